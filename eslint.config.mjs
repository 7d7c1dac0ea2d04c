// ESLint for the TypeScript of the project (Prettier formats; ESLint judges). Type-aware, so that a promise nobody
// awaits is an error: a command that forgets one exits before its work is done.
import js from '@eslint/js';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'imports/',
      'schemas/',
      'node_modules/',
      'bench/fixtures/',
      'lib/scripts/',
      'test/mongo-backup/shims/',
      '**/*.cjs',
      '**/*.mjs',
      '.cdk8s.out/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      // Prettier wraps code at 140; what it cannot wrap (a long string, a URL, a regular expression) stays readable as is.
      'max-len': [
        'error',
        {
          code: 140,
          ignoreStrings: true,
          ignoreTemplateLiterals: true,
          ignoreRegExpLiterals: true,
          ignoreUrls: true,
          ignoreComments: false,
        },
      ],
    },
  },
  // A function a newcomer can read at once: 60 lines in the host-side commands, 80 in the app (a construct's body).
  {
    files: ['hack/**/*.ts', 'bench/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }] },
  },
  {
    files: ['lib/**/*.ts', 'main.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
);
