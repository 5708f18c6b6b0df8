/** Smallest and largest of the bigints seen (event times), null until one is. */
export class Range {
  min: bigint | null = null;
  max: bigint | null = null;

  add(v: bigint | null): void {
    if (v === null) return;
    if (this.min === null || v < this.min) this.min = v;
    if (this.max === null || v > this.max) this.max = v;
  }

  merge(o: Range): void {
    this.add(o.min);
    this.add(o.max);
  }
}
