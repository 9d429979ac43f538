/**
 * How long-running work (training, evaluation) reports progress without knowing who shows it: the caller passes a
 * factory, called once with the total and the work already done (a resumed run), and gets updates and a finish.
 * The command line's ProgressBar is one such reporter.
 */
export interface ProgressReporter {
  update(done: number, fields?: Record<string, number>): void;
  finish(): void;
}

export type Progress = (total: number, alreadyDone: number) => ProgressReporter;
