import { useQuery } from "@tanstack/react-query";
import { useFeature } from "../api/features";
import { modelsApi } from "./api";

const EMPTY = new Set<string>();

/** The findings a model learnt from synthetic data only (from its card), to mark them wherever they are shown. */
export function useSyntheticOnly(modelKey: string): Set<string> {
  const available = useFeature("models");
  const q = useQuery({ queryKey: ["models"], queryFn: modelsApi.list, enabled: available === true, staleTime: 5 * 60_000 });
  const card = q.data?.find((m) => m.key === modelKey);
  return card?.synthetic_only?.length ? new Set(card.synthetic_only) : EMPTY;
}
