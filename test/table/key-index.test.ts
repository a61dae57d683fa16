/** KeyIndex and the key arena against a Map model, through enough churn to rebuild and compact both. */
import { KeyIndex } from '../../src/table/key-index';
import { LeaseSlots } from '../../src/table/lease-slots';

test('given heavy insert/remove churn, every key is found at its slot and removed keys are gone', () => {
  const slots = new LeaseSlots(5_000);
  const index = new KeyIndex(slots);
  const model = new Map<string, number>();
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const keyFor = (n: number) => (n % 3 === 0 ? `ключ-${n}` : n % 3 === 1 ? `k/${n}/${'x'.repeat(n % 40)}` : `🔒${n}`);
  for (let step = 0; step < 40_000; step++) {
    const n = Math.floor(random() * 5_000);
    const key = keyFor(n);
    const existing = model.get(key);
    if (existing === undefined) {
      const slot = slots.allocate(key, undefined, undefined, step, 0, 1, 1, 0);
      index.insert(slot);
      model.set(key, slot);
    } else {
      expect(index.remove(existing)).toBe(true);
      slots.release(existing);
      model.delete(key);
    }
    if (step % 4_999 === 0) {
      for (const [k, slot] of model) {
        expect(index.find(k)).toBe(slot);
        expect(slots.keyOf(slot)).toBe(k);
      }
      expect(index.find(keyFor(n) + '!')).toBe(-1);
      expect(index.size).toBe(model.size);
    }
  }
  for (let n = 0; n < 5_000; n++) expect(index.find(keyFor(n))).toBe(model.get(keyFor(n)) ?? -1);
});

test('a key is found only under its exact bytes, and prefixes match on bytes', () => {
  const slots = new LeaseSlots(4);
  const index = new KeyIndex(slots);
  const slot = slots.allocate('jobs/é', 'me', undefined, 1, 0, 1, 1, 0);
  index.insert(slot);
  expect(index.find('jobs/é')).toBe(slot);
  expect(index.find('jobs/e')).toBe(-1);
  expect(index.find('jobs/')).toBe(-1);
  expect(slots.keyStartsWith(slot, Buffer.from('jobs/'), 5)).toBe(true);
  expect(slots.keyStartsWith(slot, Buffer.from('jobs/é/more'), 12)).toBe(false);
});
