/** The simulator's clock: an injected base clock plus an offset that tests move via /_sim/clock. */
export class SimClock {
  private readonly base: () => Date;
  private offset = 0;

  constructor(base: () => Date) {
    this.base = base;
  }

  readonly now = (): Date => new Date(this.base().getTime() + this.offset);

  get offsetMs(): number {
    return this.offset;
  }

  setOffset(ms: number): void {
    this.offset = ms;
  }

  advance(ms: number): void {
    this.offset += ms;
  }

  /** Moves the offset so that now() is `at`. */
  setNow(at: Date): void {
    this.offset = at.getTime() - this.base().getTime();
  }

  reset(): void {
    this.offset = 0;
  }
}
