/** Which use case each durable timer runs. One table, used by main.ts and by the tests' harness. */
import { checkClosure, expireWindow, remindApprovers, warnBeforeExpiry } from "./access-window.ts";
import { escalateOverdueReview, remindReviewers } from "./break-glass.ts";
import type { AppContext } from "./context.ts";
import { weeklyDigest } from "./evidence.ts";
import { executeGrant } from "./grant.ts";
import { expireUndecided } from "./request-timeouts.ts";
import { checkWindowHolder } from "./superseded.ts";
import { TimerKind } from "./timer-kinds.ts";
import type { TimerHandler } from "./timer-runner.ts";
import { completeWindowChange } from "./window-change.ts";

export function timerHandlers(app: AppContext): Readonly<Record<TimerKind, TimerHandler>> {
  return {
    [TimerKind.Grant]: (timer) => executeGrant(app, timer),
    [TimerKind.ApprovalTimeout]: (timer) => expireUndecided(app, timer),
    [TimerKind.SourceLinkExpiry]: (timer) => expireUndecided(app, timer),
    [TimerKind.ApprovalReminder]: (timer) => remindApprovers(app, timer),
    [TimerKind.PreExpiryWarning]: (timer) => warnBeforeExpiry(app, timer),
    [TimerKind.Expiry]: (timer) => expireWindow(app, timer),
    [TimerKind.ClosureCheck]: (timer) => checkClosure(app, timer),
    [TimerKind.WindowCheck]: (timer) => checkWindowHolder(app, timer),
    [TimerKind.WindowChange]: (timer) => completeWindowChange(app, timer),
    [TimerKind.ReviewReminder]: (timer) => remindReviewers(app, timer),
    [TimerKind.ReviewEscalation]: (timer) => escalateOverdueReview(app, timer),
    [TimerKind.WeeklyDigest]: (timer) => weeklyDigest(app, timer),
  };
}
