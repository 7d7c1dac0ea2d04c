import { byteSizes, dataSizeProblem, envStringProblem } from './limits';
import { COTURN_SECRET_KEY, JANUS_ADMIN_SECRET_KEY } from './names';

// The operator's secret `.env` names (read by `bin/roomler secrets`, never by synth), checked for what each value
// becomes before any Secret is applied or sealed. Values are never echoed: a message names the variable, the
// rule and the position of the first offending character.

/** Control characters, line breaks and invisible format characters. */
const NOT_ONE_LINE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

interface SecretRule {
  readonly rule: string;
  /** The index of the first character the rule refuses, or -1. */
  readonly badAt: (value: string) => number;
}

const at = (re: RegExp) => (v: string) => {
  const m = re.exec(v);
  return m ? m.index : -1;
};

const ONE_LINE: SecretRule = { rule: 'must be one line without control characters', badAt: at(NOT_ONE_LINE) };

/**
 * Each secret name and its rule. COTURN_AUTH_SECRET is appended to turnserver.conf as one line; JANUS_ADMIN_SECRET
 * goes inside a libconfig string, and the Janus init container accepts only these characters; the rest are files
 * read with `$(cat …)` or environment variables (envFrom), where a line break or a NUL would cut or split them.
 */
export const SECRET_RULES: Readonly<Record<string, SecretRule>> = {
  MONGO_ROOT_USERNAME: ONE_LINE,
  MONGO_ROOT_PASSWORD: ONE_LINE,
  COTURN_AUTH_SECRET: {
    rule: 'must be one line without control characters (it becomes a line of turnserver.conf)',
    badAt: at(NOT_ONE_LINE),
  },
  JANUS_ADMIN_SECRET: {
    rule: 'must use only A-Z a-z 0-9 . _ ~ + / = - (it goes into a libconfig string in janus.jcfg)',
    badAt: at(/[^A-Za-z0-9._~+/=-]/),
  },
  SENDGRID_API_KEY: ONE_LINE,
  FACEBOOK_SECRET: ONE_LINE,
  GOOGLE_SECRET: ONE_LINE,
  GITHUB_SECRET: ONE_LINE,
  LINKEDIN_SECRET: ONE_LINE,
  MICROSOFT_SECRET: ONE_LINE,
  WEB_PUSH_PRIVATE_KEY: ONE_LINE,
};

const codePoint = (v: string, i: number) => `U+${v.codePointAt(i)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** Every secret value that breaks its rule, each as one line naming the variable (never the value). */
export function secretValueProblems(value: (name: string) => string | undefined): string[] {
  return Object.entries(SECRET_RULES).flatMap(([name, r]) => {
    const v = value(name);
    if (v === undefined) return [];
    const i = r.badAt(v);
    return i < 0 ? [] : [`${name} (from the environment or .env) ${r.rule}: character ${i + 1} is ${codePoint(v, i)} (value not shown)`];
  });
}

interface SecretLike {
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly stringData: Readonly<Record<string, string>>;
}

/**
 * Secrets the API server or the kernel would refuse by size: more than 1 MiB of data, or (`envFrom`, the app's
 * Secret) a value too long for one environment string. `sourceOf` names the variable a key came from.
 */
export function secretSizeProblems(
  secrets: readonly SecretLike[],
  envFromSecrets: ReadonlySet<string>,
  sourceOf: (key: string) => string,
): string[] {
  return secrets.flatMap((s) => {
    const id = `${s.metadata.namespace}/${s.metadata.name}`;
    if (envFromSecrets.has(id)) {
      const perValue = Object.entries(s.stringData).flatMap(([k, v]) => {
        const p = envStringProblem(k, v);
        return p ? [`${sourceOf(k)}: Secret ${id} key ${k}: ${p}`] : [];
      });
      if (perValue.length) return perValue;
    }
    const total = dataSizeProblem(`Secret ${id}`, byteSizes(s.stringData));
    return total ? [`${sourceOf(total.key)}: ${total.message}`] : [];
  });
}

/** The variable each Secret key is made from (`secrets` builds the keys from these names). */
export const SECRET_KEY_SOURCES: Readonly<Record<string, string>> = {
  MONGO_INITDB_ROOT_USERNAME: 'MONGO_ROOT_USERNAME',
  MONGO_INITDB_ROOT_PASSWORD: 'MONGO_ROOT_PASSWORD',
  DB_CONN: 'MONGO_ROOT_USERNAME / MONGO_ROOT_PASSWORD',
  TURN_PASSWORD: 'COTURN_AUTH_SECRET',
  [COTURN_SECRET_KEY]: 'COTURN_AUTH_SECRET',
  [JANUS_ADMIN_SECRET_KEY]: 'JANUS_ADMIN_SECRET',
};
