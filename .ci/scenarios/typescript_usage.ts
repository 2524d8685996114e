// A client author's use of the generated TypeScript SDK (.ci/out/typescript-sdk): type-checked
// strictly by .ci/steps/30-typescript-sdk.sh, not run. Touches only operations that exist today.
import { client } from '../out/typescript-sdk/client.gen';
import { createBrand, getOrganization, listBrands } from '../out/typescript-sdk/sdk.gen';
import type { Brand, Problem } from '../out/typescript-sdk/types.gen';

export async function example(baseUrl: string, token: string): Promise<Brand[]> {
  client.setConfig({ baseUrl, auth: () => token });

  const org = await getOrganization();
  if (org.error) {
    const problem: Problem = org.error;
    throw new Error(`${problem.status} ${problem.type}`);
  }
  const plan: 'free' | 'starter' | 'advanced' | 'enterprise' = org.data.plan;
  void plan;

  const created = await createBrand({ body: { name: 'Northwind Coffee' } });
  if (created.error) {
    const fields = (created.error.errors ?? []).map((e) => e.pointer ?? e.parameter ?? '?');
    throw new Error(`${created.error.title}: ${fields.join(', ')}`);
  }

  const brands: Brand[] = [];
  let cursor: string | undefined;
  do {
    const page = await listBrands({ query: { limit: 100, cursor } });
    if (page.error) throw new Error(page.error.type);
    brands.push(...page.data.data);
    cursor = page.data.next_cursor ?? undefined;
  } while (cursor);
  return brands;
}
