/**
 * The operator's existing `.env` names (docs/reference-topology.md) and the config paths they override. Only non-secret
 * values: secrets are read by `npm run secrets`, never by synth.
 * A path starting with `*` applies to the instance defaults (the top level of the config file).
 */
export const ENV_PATHS: Readonly<Record<string, readonly string[]>> = {
  URL: ['app', 'env', 'URL'],
  API_URL: ['app', 'env', 'API_URL'],
  API_URL_SERVER: ['app', 'env', 'API_URL_SERVER'],
  JANUS_URL: ['app', 'env', 'JANUS_URL'],
  TURN_URL: ['app', 'env', 'TURN_URL'],
  FACEBOOK_ID: ['app', 'env', 'FACEBOOK_ID'],
  GOOGLE_ID: ['app', 'env', 'GOOGLE_ID'],
  GITHUB_ID: ['app', 'env', 'GITHUB_ID'],
  LINKEDIN_ID: ['app', 'env', 'LINKEDIN_ID'],
  MICROSOFT_ID: ['app', 'env', 'MICROSOFT_ID'],
  GIPHY_API_KEY: ['app', 'env', 'GIPHY_API_KEY'],
  GOOGLE_ANALYTICS_ID: ['app', 'env', 'GOOGLE_ANALYTICS_ID'],
  SUPER_ADMIN_EMAILS: ['app', 'env', 'SUPER_ADMIN_EMAILS'],
  WEB_PUSH_CONTACT: ['app', 'env', 'WEB_PUSH_CONTACT'],
  WEB_PUSH_PUBLISH_KEY: ['app', 'env', 'WEB_PUSH_PUBLISH_KEY'],
  MONGO_DATABASE: ['mongodb', 'database'],
  K8S_WORKER1_IP: ['nodeAddress'],
  K8S_SSH_USER: ['ssh', 'user'],
  SSH_KEY_PATH: ['ssh', 'keyPath'],
  NGINX_CONF_DIR: ['cutover', 'nginx', 'confDir'],
  BACKUP_BASE_PATH: ['backup', 'basePath'],
  DOCKER_MONGO_CONTAINER: ['migrate', 'mongo', 'container'],
  DOCKER_UPLOADS_PATH: ['migrate', 'uploads', 'source'],
};

/** K8S_WORKER1_IP also names the ssh host: one address for the data node. */
export const ENV_ALSO: Readonly<Record<string, readonly (readonly string[])[]>> = {
  K8S_WORKER1_IP: [['ssh', 'host']],
};
