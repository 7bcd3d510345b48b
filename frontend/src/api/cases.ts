import { api, unwrap } from "./client";
import type { components } from "./schema.gen";

export type CaseOut = components["schemas"]["CaseOut"];
export type CaseDetail = components["schemas"]["CaseDetail"];
export type CaseList = components["schemas"]["CaseList"];
type AiStateParam = import("./schema.gen").components["schemas"]["AiStateName"];
type CaseStateParam = NonNullable<NonNullable<import("./schema.gen").operations["listCases"]["parameters"]["query"]>["state"]>;

export interface CaseQuery {
  q?: string;
  state?: string;
  from?: string;
  to?: string;
  ai?: string;
  major?: string;
}

export const casesApi = {
  list: (query: CaseQuery) =>
    unwrap<CaseList>(
      api.GET("/api/cases", {
        params: {
          query: {
            q: query.q || undefined,
            state: (query.state || undefined) as CaseStateParam | undefined,
            created_from: query.from ? `${query.from}T00:00:00` : undefined,
            // "to" is inclusive in the UI; the API's bound is "created before".
            created_to: query.to ? `${query.to}T23:59:59` : undefined,
            ai_state: (query.ai || undefined) as AiStateParam | undefined,
            has_major: query.major === "1" ? true : undefined,
            limit: 200,
          },
        },
      }),
    ),
  get: (id: number) => unwrap<CaseDetail>(api.GET("/api/cases/{case_id}", { params: { path: { case_id: id } } })),
  /** The server assigns the pseudonymous case number; nothing identifying is typed in. */
  create: () => unwrap<CaseOut>(api.POST("/api/cases")),
};
