/** The service version, reported by /health and on every span. Kept in step with package.json by a test. */
export const VERSION = '0.1.0';
