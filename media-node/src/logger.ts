import { pino, type Logger } from "pino";

// One structured logger per process; modules take child loggers with their own bindings.
export const rootLogger: Logger = pino({
  level: process.env.LOG_LEVEL ?? "info",
  base: { pid: process.pid },
});

export type { Logger };
