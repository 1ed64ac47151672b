/**
 * The on-call roster as configuration: `breakGlass.users` in the rules file (per subscription /
 * resource group) plus BREAK_GLASS_USERS. Limits: it knows no schedules, and `breakGlass.groups` are
 * not resolved (that needs a directory or paging adapter behind the same port).
 */
import { onStaticRoster } from "../domain/break-glass.ts";
import { type ApprovalRules, breakGlassSettings } from "../domain/rules.ts";
import type { OnCallRoster } from "./ports.ts";

export function createStaticRoster(rules: ApprovalRules, extraUsers: readonly string[]): OnCallRoster {
  return {
    async isOnCall(upn, subject) {
      return onStaticRoster(upn, breakGlassSettings(subject, rules), extraUsers);
    },
  };
}
