import { api, unwrap } from "./client";
import type { User } from "./types";

export const authApi = {
  me: () => unwrap<User>(api.GET("/api/auth/me")),
  login: (email: string, password: string) => unwrap<User>(api.POST("/api/auth/login", { body: { email, password } })),
  logout: () => unwrap<unknown>(api.POST("/api/auth/logout")),
  /** Save my language: the UI's on every device, and the one alert e-mails are written in. */
  setLocale: (locale: "en" | "ja") => unwrap<User>(api.PATCH("/api/auth/me", { body: { locale } })),
};
