/**
 * The options object as given, without its `undefined` values (so that a default applies), after a
 * warning for each key `known` does not list: a misspelt option is reported, never silently
 * ignored. `owner` names what is being configured in the warning (`evict`, `RedisStore`, …).
 */
export function definedOptions<T extends object>(
  options: T,
  known: readonly string[],
  owner: string,
): Partial<T> {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`${owner}: options must be an object`);
  const defined: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!known.includes(key)) {
      process.emitWarning(`${owner}: unknown option ${JSON.stringify(key)} is ignored`, {
        code: 'EVICT_UNKNOWN_OPTION',
      });
    }
    if (value !== undefined) defined[key] = value;
  }
  return defined as Partial<T>;
}
