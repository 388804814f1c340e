// A typed queue: the good TypeScript file of the bad-input corpus.
export interface Job {
  id: number;
  payload: string;
}

export class Queue<T> {
  private items: T[] = [];

  push(item: T): void {
    this.items.push(item);