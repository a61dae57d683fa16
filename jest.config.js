/** Unit tests need nothing; integration tests start real lockd processes from dist/ (npm test builds first). */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json', isolatedModules: true }] },
  testTimeout: 30000,
  maxWorkers: 2,
};
