import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { configJsonSchema } from '../lib/config';

// `npm run schema`: regenerates roomler.schema.json (editor completion) from the zod schema that validates.
export const SCHEMA_FILE = join(__dirname, '..', 'roomler.schema.json');
export const schemaText = () => JSON.stringify(configJsonSchema(), null, 2) + '\n';

if (require.main === module) {
  writeFileSync(SCHEMA_FILE, schemaText());
  process.stdout.write(`schema: wrote ${SCHEMA_FILE}\n`);
}
