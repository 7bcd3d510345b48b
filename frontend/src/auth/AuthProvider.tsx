import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { authApi } from "../api/auth";
import { ApiError } from "../api/errors";
import { onUnauthorized } from "../api/sessionEvents";
import type { User } from "../api/types";
import { hasChosenLanguage, setLanguage, type Language } from "../i18n";

interface AuthValue {
  user: User | null;
  loading: boolean;
  sessionExpired: boolean;
  login(email: string, password: string): Promise<User>;
  logout(): Promise<void>;
  /** Switch the UI language and, when signed in, save it as my account's (alert e-mails use it). */
  chooseLanguage(lang: Language): void;
}

const AuthContext = createContext<AuthValue | null>(null);

/** The auth context, or null outside an AuthProvider (components that also work signed out). */
export function useOptionalAuth(): AuthValue | null {
  return useContext(AuthContext);
}

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

  const chooseLanguage = useCallback(
    (lang: Language) => {
      setLanguage(lang);
      if (!user || user.locale === lang) return;
      // Not saving is not fatal: the UI has switched; the account (and its e-mails) keep the old language.
      authApi.setLocale(lang).then((u) => qc.setQueryData(["me"], u), () => undefined);
    },
    [qc, user],
  );

  const value = useMemo(() => ({ user, loading: me.isLoading, sessionExpired: expired, login, logout, chooseLanguage }), [user, me.isLoading, expired, login, logout, chooseLanguage]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
