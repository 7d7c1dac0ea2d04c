import { UserError } from './cli';

/** Placeholder: issue 6 implements it. */
export async function migrateUploads(_argv: string[]): Promise<number> {
  throw new UserError('migrate uploads is not implemented yet');
}
