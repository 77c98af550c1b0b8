// Lint rules: typescript-eslint's recommended set, plus the habits STYLE.md asks for.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'engine/src/gen/**', 'operator/src/gen/**', 'bench/peers/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Tests may assert non-null where the harness guarantees it.
    files: ['**/*.test.ts', 'engine/test/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
