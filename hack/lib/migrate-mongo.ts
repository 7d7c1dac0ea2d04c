import { UserError } from './cli';

/** Placeholder: issue 5 implements it. */
export async function migrateMongo(_argv: string[]): Promise<number> {
  throw new UserError('migrate mongo is not implemented yet');
}
