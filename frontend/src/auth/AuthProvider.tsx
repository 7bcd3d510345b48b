import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { authApi } from "../api/auth";
import { ApiError } from "../api/errors";
import { onUnauthorized } from "../api/sessionEvents";
import type { User } from "../api/types";
import { hasChosenLanguage, setLanguage } from "../i18n";

interface AuthValue {
  user: User | null;
  loading: boolean;
  sessionExpired: boolean;
  login(email: string, password: string): Promise<User>;
  logout(): Promise<void>;
}

const AuthContext = createContext<AuthValue | null>(null);

export function useAuth(): AuthValue {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth outside AuthProvider");
  return ctx;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [expired, setExpired] = useState(false);
  const me = useQuery({
    queryKey: ["me"],
    queryFn: async () => {
      try {
        return await authApi.me();
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return null;
        throw e;
      }
    },
    retry: false,
    staleTime: Infinity,
  });
  const user = me.data ?? null;

  // A 401 while signed in means the session ran out: keep the page (and what was typed) and ask again.
  useEffect(() => onUnauthorized(() => {
    if (qc.getQueryData(["me"])) setExpired(true);
  }), [qc]);

  const login = useCallback(
    async (email: string, password: string) => {
      const u = await authApi.login(email, password);
      if (!hasChosenLanguage() && (u.locale === "ja" || u.locale === "en")) setLanguage(u.locale);
      const wasExpired = expired;
      qc.setQueryData(["me"], u);
      setExpired(false);
      if (wasExpired) await qc.invalidateQueries({ predicate: (q) => q.queryKey[0] !== "me" });
      return u;
    },
    [qc, expired],
  );

  const logout = useCallback(async () => {
    try {
      await authApi.logout();
    } finally {
      // Keep the "me" query (its observer stays attached) but forget everything read as this user.
      qc.setQueryData(["me"], null);
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== "me" });
      setExpired(false);
    }
  }, [qc]);

  const value = useMemo(() => ({ user, loading: me.isLoading, sessionExpired: expired, login, logout }), [user, me.isLoading, expired, login, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
