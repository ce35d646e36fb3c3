// The TypeScript client openapi-generator makes (`-g typescript-fetch`), used the way an SDK
// user would against a live server: it pages through every list and the changes feed, fetches
// every detail and its history, filters, reads drafts with a curator's token, and meets a 400
// and a 404. It prints what it saw as JSON for tests/test_sdk_generators.py to check.
import {
  Configuration,
  ExchangeResponsesApi,
  ExchangesApi,
  GroupsApi,
  MigrationsApi,
  OrganizationsApi,
  PlatformAvailabilitiesApi,
  PlatformsApi,
  RegulatoryActionsApi,
  SourcesApi,
  ChangesApi,
  ResponseError,
  ValidationErrorResponseFromJSON,
  ClientErrorResponseFromJSON,
  PublicationStatusEnum,
} from './generated/typescript-fetch/src';

declare const process: { env: Record<string, string | undefined> };

const base = process.env.API_URL as string;
const token = process.env.CURATOR_TOKEN as string;
const anonymous = new Configuration({ basePath: base });
const curator = new Configuration({ basePath: base, apiKey: `Token ${token}` }); // pragma: allowlist secret

// Each resource's API, and its operation names' stem.
const resources: Record<string, [new (c: Configuration) => any, string]> = {
  'exchange-responses': [ExchangeResponsesApi, 'exchangeResponses'],
  exchanges: [ExchangesApi, 'exchanges'],
  groups: [GroupsApi, 'groups'],
  migrations: [MigrationsApi, 'migrations'],
  organizations: [OrganizationsApi, 'organizations'],
  'platform-availabilities': [PlatformAvailabilitiesApi, 'platformAvailabilities'],
  platforms: [PlatformsApi, 'platforms'],
  'regulatory-actions': [RegulatoryActionsApi, 'regulatoryActions'],
  sources: [SourcesApi, 'sources'],
};

const report: Record<string, any> = { lists: {}, details: 0, histories: 0, errors: [] };

async function attempt<T>(what: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    report.errors.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

async function status(call: () => Promise<unknown>): Promise<[number, any]> {
  try {
    await call();
    return [200, null];
  } catch (error) {
    if (error instanceof ResponseError) {
      return [error.response.status, await error.response.json()];
    }
    throw error;
  }
}

async function main(): Promise<void> {
  for (const [resource, [Api, stem]] of Object.entries(resources)) {
    const api = new Api(anonymous);
    const slugs: string[] = [];
    let count = -1;
    for (let page = 1; ; page++) {
      const found: any = await attempt(`${stem}List page ${page}`, () =>
        api[`${stem}List`]({ page, pageSize: 25 }),
      );
      if (found === undefined) break;
      count = found.count;
      slugs.push(...found.results.map((record: { slug: string }) => record.slug));
      if (found.next === null) break;
    }
    report.lists[resource] = { count, slugs };
    for (const slug of slugs) {
      const record: any = await attempt(`${stem}Retrieve ${slug}`, () =>
        api[`${stem}Retrieve`]({ slug }),
      );
      if (record !== undefined && record.slug === slug && record.url.endsWith(`/${slug}/`)) {
        report.details += 1;
      }
      const history: any = await attempt(`${stem}HistoryList ${slug}`, () =>
        api[`${stem}HistoryList`]({ slug, pageSize: 100 }),
      );
      if (history !== undefined && history.results.every((e: { date: unknown }) => e.date instanceof Date)) {
        report.histories += 1;
      }
    }
  }

  // The changes feed, from the start, by its cursor.
  const changes = new ChangesApi(anonymous);
  let after: string | undefined;
  report.changes = 0;
  for (;;) {
    const page = await attempt('changesList', () => changes.changesList({ after, pageSize: 500 }));
    if (page === undefined) break;
    report.changes += page.results.length;
    after = page.completeThrough;
    if (page.next === null) break;
  }

  // Typed calls: filters, a curator's drafts, a 400 and a 404.
  const telegram = await attempt('groupsList platform', () =>
    new GroupsApi(anonymous).groupsList({ platform: ['telegram'], pageSize: 100 }),
  );
  report.telegram_groups = telegram?.results.map((group) => group.platform.slug);
  const actions = await attempt('regulatoryActionsList filters', () =>
    new RegulatoryActionsApi(anonymous).regulatoryActionsList({
      jurisdiction: 'CN',
      announcedAfter: new Date('2017-09-01'),
      announcedBefore: new Date('2017-09-30'),
      pageSize: 100,
    }),
  );
  report.cn_actions = actions?.results.map((action) => [action.jurisdiction, action.announced?.value]);
  const drafts = await attempt('organizationsList drafts', () =>
    new OrganizationsApi(curator).organizationsList({
      publicationStatus: [PublicationStatusEnum.Draft],
      pageSize: 100,
    }),
  );
  report.draft_organizations = drafts?.results.map((organization) => organization.slug);
  const draftSlug = process.env.DRAFT_SLUG as string;
  const draft = await attempt('organizationsRetrieve draft', () =>
    new OrganizationsApi(curator).organizationsRetrieve({
      slug: draftSlug,
      publicationStatus: [PublicationStatusEnum.Draft],
    }),
  );
  report.draft_detail = draft?.slug;
  const [anonymousStatus] = await status(() =>
    new OrganizationsApi(anonymous).organizationsList({ publicationStatus: [PublicationStatusEnum.Draft] }),
  );
  report.anonymous_draft_status = anonymousStatus;
  const [badStatus, badBody] = await status(() =>
    new GroupsApi(anonymous).groupsList({ platform: ['no-such-platform'] }),
  );
  report.bad = [badStatus, ValidationErrorResponseFromJSON(badBody).errors.map((e) => e.attr)];
  const [missingStatus, missingBody] = await status(() =>
    new ExchangesApi(anonymous).exchangesRetrieve({ slug: 'no-such-exchange' }),
  );
  report.missing = [missingStatus, ClientErrorResponseFromJSON(missingBody).errors.map((e) => e.code)];
}

main()
  .catch((error) => report.errors.push(`unexpected: ${error}`))
  .finally(() => console.log(JSON.stringify(report)));
