/**
 * Where an adapter serves evict's routes: a mount path (`'/admin'`, `'/admin/'`) becomes `'/admin'`
 * (the root: `''`), and a request path below it becomes the path core routes on. A framework whose
 * paths go without a leading slash (Nest's `'api'`) adds it before calling this.
 */
export function mountPathOf(path: string | undefined): string {
  if (path === undefined) return '';
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) {
    throw new TypeError('evict: a mount path must be a path that starts with "/"');
  }
  return path.replace(/\/+$/, '');
}

/** The path below `mount` (from `mountPathOf`), `/` for the mount itself, or undefined when the path is elsewhere. */
export function pathBelowMount(mount: string, pathname: string): string | undefined {
  if (mount === '') return pathname;
  if (pathname === mount) return '/';
  return pathname.startsWith(`${mount}/`) ? pathname.slice(mount.length) : undefined;
}
