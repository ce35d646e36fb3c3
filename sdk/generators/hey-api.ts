// The TypeScript client @hey-api/openapi-ts makes (fetch client, zod response validators), used
// the way an SDK user would against a live server: it pages through every list and the changes
// feed, fetches every detail and its history, filters, reads drafts with a curator's token, and
// meets a 400 and a 404. Every 2xx body is validated against the schema by zod as it is read.
// It prints what it saw as JSON for tests/test_sdk_generators.py to check.
import { client } from './generated/hey-api/client.gen';
import * as sdk from './generated/hey-api/sdk.gen';
import type { ClientErrorResponse, ValidationErrorResponse } from './generated/hey-api/types.gen';

declare const process: { env: Record<string, string | undefined> };

const token = process.env.CURATOR_TOKEN as string;
client.setConfig({ baseUrl: process.env.API_URL as string });
// A curator's token goes in the Authorization header, never in the session cookie.
const asCurator = {
  auth: (auth: { in?: string }) => (auth.in === 'cookie' ? undefined : `Token ${token}`),
};

const stems: Record<string, string> = {
  'exchange-responses': 'exchangeResponses',
  exchanges: 'exchanges',
  groups: 'groups',
  migrations: 'migrations',
  organizations: 'organizations',
  'platform-availabilities': 'platformAvailabilities',
  platforms: 'platforms',
  'regulatory-actions': 'regulatoryActions',
  sources: 'sources',
};

const report: Record<string, any> = { lists: {}, details: 0, histories: 0, errors: [] };
const operations = sdk as unknown as Record<string, (options?: object) => Promise<any>>;

// A call whose answer must be a 2xx that the schema's validator accepts.
async function read(what: string, call: () => Promise<any>): Promise<any> {
  try {
    const { data, error, response } = await call();
    if (error !== undefined || !response.ok) {
      report.errors.push(`${what}: ${response.status} ${JSON.stringify(error)}`);
      return undefined;
    }
    return data;
  } catch (error) {
    report.errors.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

async function main(): Promise<void> {
  for (const [resource, stem] of Object.entries(stems)) {
    const slugs: string[] = [];
    let count = -1;
    for (let page = 1; ; page++) {
      const found = await read(`${stem}List page ${page}`, () =>
        operations[`${stem}List`]({ query: { page, page_size: 25 } }),
      );
      if (found === undefined) break;
      count = found.count;
      slugs.push(...found.results.map((record: { slug: string }) => record.slug));
      if (found.next === null) break;
    }
    report.lists[resource] = { count, slugs };
    for (const slug of slugs) {
      const record = await read(`${stem}Retrieve ${slug}`, () =>
        operations[`${stem}Retrieve`]({ path: { slug } }),
      );
      if (record !== undefined && record.slug === slug && record.url.endsWith(`/${slug}/`)) {
        report.details += 1;
      }
      const history = await read(`${stem}HistoryList ${slug}`, () =>
        operations[`${stem}HistoryList`]({ path: { slug }, query: { page_size: 100 } }),
      );
      if (history !== undefined) {
        report.histories += 1;
      }
    }
  }

  // The changes feed, from the start, by its cursor.
  let after: string | undefined;
  report.changes = 0;
  for (;;) {
    const page = await read('changesList', () =>
      sdk.changesList({ query: { page_size: 500, ...(after ? { after } : {}) } }),
    );
    if (page === undefined) break;
    report.changes += page.results.length;
    after = page.complete_through;
    if (page.next === null) break;
  }

  // Typed calls: filters, a curator's drafts, a 400 and a 404.
  const telegram = await read('groupsList platform', () =>
    sdk.groupsList({ query: { platform: ['telegram'], page_size: 100 } }),
  );
  report.telegram_groups = telegram?.results.map((group: { platform: { slug: string } }) => group.platform.slug);
  const actions = await read('regulatoryActionsList filters', () =>
    sdk.regulatoryActionsList({
      query: {
        jurisdiction: 'CN',
        announced_after: '2017-09-01',
        announced_before: '2017-09-30',
        page_size: 100,
      },
    }),
  );
  report.cn_actions = actions?.results.map((action: any) => [action.jurisdiction, action.announced?.value]);
  const drafts = await read('organizationsList drafts', () =>
    sdk.organizationsList({ ...asCurator, query: { publication_status: ['draft'], page_size: 100 } }),
  );
  report.draft_organizations = drafts?.results.map((organization: { slug: string }) => organization.slug);
  const draft = await read('organizationsRetrieve draft', () =>
    sdk.organizationsRetrieve({
      ...asCurator,
      path: { slug: process.env.DRAFT_SLUG as string },
      query: { publication_status: ['draft'] },
    }),
  );
  report.draft_detail = draft?.slug;
  const anonymousDrafts = await sdk.organizationsList({ query: { publication_status: ['draft'] } });
  report.anonymous_draft_status = anonymousDrafts.response.status;
  const bad = await sdk.groupsList({ query: { platform: ['no-such-platform'] } });
  report.bad = [bad.response.status, (bad.error as ValidationErrorResponse).errors.map((e) => e.attr)];
  const missing = await sdk.exchangesRetrieve({ path: { slug: 'no-such-exchange' } });
  report.missing = [missing.response.status, (missing.error as ClientErrorResponse).errors.map((e) => e.code)];
}

main()
  .catch((error) => report.errors.push(`unexpected: ${error}`))
  .finally(() => console.log(JSON.stringify(report)));
