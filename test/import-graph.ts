/**
 * The static import graph of a TypeScript entry, as a browser would load it: each file is transpiled first (so that
 * `import type` and imports used only as types are erased, exactly as tsc erases them), then its import and export
 * declarations are followed. Relative specifiers are followed to their `.ts` source; any other specifier is one a
 * browser cannot load without a bundler or import map (`node:fs`, `webgpu`, `pngjs`) and is reported. Dynamic
 * `import()` calls are reported separately: they load only when they run.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface ImportGraph {
  /** Every file reached, relative to `root`. */
  files: string[];
  /** `file → specifier` for each static import that is not a relative file. */
  external: string[];
  /** `file → specifier` for each dynamic import(). */
  dynamic: string[];
}

function specifiers(file: string): { statics: string[]; dynamics: string[] } {
  const js = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: file,
  }).outputText;
  const source = ts.createSourceFile(file, js, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const statics: string[] = [];
  const dynamics: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      statics.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      dynamics.push(arg && ts.isStringLiteralLike(arg) ? arg.text : '<computed>');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { statics, dynamics };
}

/** Walks from `entry` (a .ts file); paths in the result are relative to `root`. */
export function importGraph(entry: string, root: string): ImportGraph {
  const seen = new Set<string>();
  const external: string[] = [];
  const dynamic: string[] = [];
  const queue = [resolve(entry)];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const name = relative(root, file);
    const { statics, dynamics } = specifiers(file);
    for (const spec of dynamics) dynamic.push(`${name} → ${spec}`);
    for (const spec of statics) {
      if (!spec.startsWith('./') && !spec.startsWith('../')) {
        external.push(`${name} → ${spec}`);
        continue;
      }
      // tsc's NodeNext convention: sources import each other by their emitted `.js` names.
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      if (!existsSync(target)) throw new Error(`${name}: imports ${spec}, but ${relative(root, target)} does not exist`);
      queue.push(target);
    }
  }
  return { files: [...seen].map((f) => relative(root, f)).sort(), external, dynamic };
}
