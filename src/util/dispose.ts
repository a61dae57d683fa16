/**
 * Node 20 defines Symbol.asyncDispose (as the registered symbol below), but other realms such as
 * jest's vm sandboxes may not; without it `[Symbol.asyncDispose]` would name a method "undefined".
 */
const symbols = Symbol as unknown as { asyncDispose?: symbol };
symbols.asyncDispose ??= Symbol.for('nodejs.asyncDispose');
export {};
