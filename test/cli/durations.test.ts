/** lockctl's duration syntax: bare seconds, compound units, and how durations are printed. */
import { formatCliDuration, parseCliDuration } from '../../src/cli/durations';

test('a bare number is seconds, as in flock -w and consul lock -timeout', () => {
  expect(parseCliDuration('30')).toBe(30_000);
  expect(parseCliDuration('0')).toBe(0);
  expect(parseCliDuration('1.5')).toBe(1_500);
});

test('units ms, s, m and h parse and combine', () => {
  expect(parseCliDuration('250ms')).toBe(250);
  expect(parseCliDuration('30s')).toBe(30_000);
  expect(parseCliDuration('5m')).toBe(300_000);
  expect(parseCliDuration('1h')).toBe(3_600_000);
  expect(parseCliDuration('1m30s')).toBe(90_000);
  expect(parseCliDuration('1h2m3s4ms')).toBe(3_723_004);
  expect(parseCliDuration(' 2m ')).toBe(120_000);
});

test('anything else is not a duration', () => {
  for (const text of ['', 'soon', '-5', '5x', '1m30', 's', '1 m', '30s30', 'ms']) {
    expect({ text, ms: parseCliDuration(text) }).toEqual({ text, ms: undefined });
  }
});

test('durations print in the largest units that are exact', () => {
  expect([100, 1_500, 30_000, 90_000, 300_000, 86_400_000, 3_723_000].map(formatCliDuration)).toEqual(['100ms', '1.5s', '30s', '1m30s', '5m', '24h', '1h2m3s']);
});
