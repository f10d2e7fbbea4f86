/**
 * CPU time and peak memory of a process, from Linux's /proc (the bench runs on Linux).
 * Peak memory is VmHWM, reset between runs through /proc/<pid>/clear_refs.
 */
import fs from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ProcSample {
  /** CPU seconds used so far (user + system). */
  cpuSeconds: number;
  /** Peak resident memory since the last reset, MB. */
  peakRssMb: number;
}

export function sample(pid: number): ProcSample {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
  return { cpuSeconds, peakRssMb: hwm ? Number(hwm[1]) / 1024 : 0 };
}

/** Starts a new peak-memory measurement for `pid`. */
export function resetPeak(pid: number): void {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not permitted here: the peak then counts from the process's start.
  }
}
