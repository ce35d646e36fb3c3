// @hey-api/openapi-ts settings for the TypeScript client it makes of the schema
// (tests/test_sdk_generators.py; README, "Generate a client"). The schema and the output folder
// come from the environment. Every response is checked against the schema with zod as the
// client reads it: a response that does not match is an error, not a silent cast.
export default {
  input: process.env.OPENAPI_SCHEMA,
  output: process.env.OPENAPI_OUTPUT,
  // The schema has its own request shapes (the *Request components). hey-api's split of each
  // schema into a readable and a writable variant also drops the null branch of a read-only
  // nullable property, so the client would refuse the nulls the server sends.
  parser: { transforms: { readWrite: false } },
  plugins: [
    '@hey-api/client-fetch',
    'zod',
    { name: '@hey-api/sdk', validator: { request: false, response: 'zod' } },
  ],
};
