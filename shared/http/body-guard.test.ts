import { describe, expect, it } from 'vitest';
import { BodyBudget } from './body-guard.js';

describe('BodyBudget', () => {
  it('holds at most its bytes; bodies without a key at most a quarter, so keyed ones still fit', () => {
    const budget = new BodyBudget(1000);
    expect(budget.take(250, true)).toBe(true);
    expect(budget.take(1, true)).toBe(false); // the keyless quarter is full
    expect(budget.take(750, false)).toBe(true); // keyed bodies take the rest
    expect(budget.take(1, false)).toBe(false);
    expect(budget.held).toBe(1000);
    budget.give(250, true);
    expect(budget.take(200, true)).toBe(true);
    budget.give(200, true);
    budget.give(750, false);
    expect(budget.held).toBe(0);
    expect(budget.take(1000, false)).toBe(true);
  });
});
