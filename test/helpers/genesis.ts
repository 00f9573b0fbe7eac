/**
 * The dev-mode genesis secret key: public test data (channel-api §7). A module of its own, so a test
 * that only hands it to a child process does not load the service to get it.
 */
export const GENESIS_SECRET = 'sk_2CuofqWZHrABCrM7GY95YSQn8PyFvKQadnvFnpwhjUnDCFAWmf';
