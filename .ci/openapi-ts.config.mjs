// @hey-api/openapi-ts configuration of .ci/steps/30-typescript-sdk.sh (paths relative to the repo root).
export default {
  input: './openapi/openapi.json',
  output: { path: './.ci/out/typescript-sdk' },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
};
