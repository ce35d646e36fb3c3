// How a TypeScript client uses the generated types. `tsc --noEmit` must accept this file: when
// the schema changes in a way that breaks it, the SDK check in CI fails.
import type { components, operations, paths } from "./generated/schema";

type Group = components["schemas"]["Group"];
type GroupList = components["schemas"]["PaginatedGroupList"];
type GroupQuery = NonNullable<operations["groups_list"]["parameters"]["query"]>;
type ValidationError = components["schemas"]["ValidationErrorResponse"];
type ActionStatus = components["schemas"]["ActionStatusEnum"];

const base = "http://127.0.0.1:8000";

function query(params: GroupQuery): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      search.append(key, String(item));
    }
  }
  return search.toString();
}

export async function telegramGroups(): Promise<Group[]> {
  const groups: Group[] = [];
  let url: string | null = `${base}/api/v1/groups/?${query({ platform: ["telegram"], page_size: 100 })}`;
  while (url !== null) {
    const response = await fetch(url);
    if (response.status === 400) {
      const error = (await response.json()) as ValidationError;
      throw new Error(error.errors.map((e) => `${e.attr ?? "request"}: ${e.detail}`).join("; "));
    }
    const page = (await response.json()) as GroupList;
    groups.push(...page.results);
    url = page.next;
  }
  return groups;
}

export function describe(group: Group): string {
  const members = group.member_count
    ? `${group.member_count.qualifier} ${group.member_count.value}`
    : "unknown";
  const since = group.member_count?.as_of?.value ?? "an unknown date";
  const sources = group.citations.map((c) => `${c.source.publisher} (${c.support})`);
  return `${group.name} on ${group.platform.name}: ${members} members as of ${since}; ${sources.join(", ")}`;
}

export const inForce: ActionStatus = "in_force";

type ExchangeDetail =
  paths["/api/v1/exchanges/{slug}/"]["get"]["responses"][200]["content"]["application/json"];

export function responses(exchange: ExchangeDetail): string[] {
  return exchange.responses.map((r) => `${r.response_type} ${r.effective?.value ?? "?"}`);
}
