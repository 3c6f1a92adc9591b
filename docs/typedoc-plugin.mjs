// evict's TypeDoc plugin, loaded by typedoc.json.
//
// 1. Names each module after the import that reaches it: the entry point
//    packages/<name>/src[/<subpath>][/index].ts is documented as @evict/<name>[/<subpath>].
// 2. Checks that every @evict type a public signature names is documented. TypeDoc's own `notExported`
//    check covers only the root package.json's package, and this monorepo converts all its packages
//    as one program, so without this a type an entry point forgets to export goes unnoticed.
import { Application, Converter, makeRecursiveVisitor, ReflectionKind } from 'typedoc';

const ENTRY = /^(?:packages\/)?([^/]+)\/src(?:\/(.+?))?(?:\/index)?$/;
const OWN_PACKAGE = /^@evict\//;

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (_context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Module)) return;
    const match = ENTRY.exec(reflection.name);
    if (match) reflection.name = `@evict/${match[1]}${match[2] ? `/${match[2]}` : ''}`;
  });

  app.on(Application.EVENT_VALIDATE_PROJECT, (project) => {
    if (!app.options.getValue('validation').notExported) return;
    const intentional = new Set(app.options.getValue('intentionallyNotExported'));
    const warned = new Set();
    for (const owner of Object.values(project.reflections)) {
      const visitor = makeRecursiveVisitor({
        reference(type) {
          const name = type.qualifiedName;
          if (type.reflection || type.externalUrl || !OWN_PACKAGE.test(type.package ?? '')) return;
          if (intentional.has(name) || warned.has(`${type.package}:${name}`)) return;
          warned.add(`${type.package}:${name}`);
          const where = `${type.symbolId?.packageName}/${type.symbolId?.packagePath}`;
          app.logger.validationWarning(
            `${name}, defined in ${where}, is referenced by ${owner.getFriendlyFullName()} but not exported from any entry point`,
          );
        },
      });
      for (const type of [
        owner.type,
        owner.default,
        ...(owner.extendedTypes ?? []),
        ...(owner.implementedTypes ?? []),
      ]) {
        type?.visit(visitor);
      }
    }
  });
}
