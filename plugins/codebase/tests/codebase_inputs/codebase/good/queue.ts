// A typed queue: the good TypeScript file of the bad-input corpus.
export interface Job {
  id: number;
  payload: string;
}

export class Queue<T> {
  private items: T[] = [];

  push(item: T): void {
    this.items.push(item);
  }

  pop(): T | undefined {
    return this.items.shift();
  }
}

export function describe(job: Job): string {
  return `${job.id}: ${job.payload}`;
}
