/**
 * `sh` doc blocks: every command is checked against the repository (directories, npm scripts,
 * installable names). `curl` commands are returned for the caller to run against an example.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';

/** A problem found in a shell block, with the command it is about. */
export interface ShIssue {
  command: string;
  problem: string;
}

interface Pkg {
  name?: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const readPkg = (dir: string): Pkg | undefined => {
  const file = join(dir, 'package.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Pkg) : undefined;
};

/** Names `npm install` may name in a doc: workspace packages, and what any package.json lists. */
function installable(root: string): Set<string> {
  const names = new Set<string>(['node', 'npm']);
  const dirs = [root];
  for (const group of ['packages', 'examples']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base)) dirs.push(join(base, entry));
  }
  for (const dir of dirs) {
    const pkg = readPkg(dir);
    if (!pkg) continue;
    if (pkg.name) names.add(pkg.name);
    for (const deps of [pkg.dependencies, pkg.peerDependencies, pkg.devDependencies]) {
      for (const n of Object.keys(deps ?? {})) names.add(n);
    }
  }
  return names;
}

/** Splits a shell line into commands on `&&`, `||`, `;` and `|`, without comments. */
export function commandsOf(line: string): string[] {
  const noComment = line.replace(/(^|\s)#.*$/, '');
  return noComment
    .split(/&&|\|\||;|\|/)
    .map((c) => c.trim())
    .filter((c) => c !== '');
}

/** Words of a command after leading `VAR=value` assignments. */
function words(command: string): string[] {
  const w = command.match(/'[^']*'|"[^"]*"|\S+/g) ?? [];
  while (w[0] !== undefined && /^[A-Z_][A-Z0-9_]*=/.test(w[0])) w.shift();
  return w.map((x) => x.replace(/^['"]|['"]$/g, ''));
}

/**
 * Checks every command of `code` (a `sh` block of `file`). Returns the issues and the `curl`
 * commands (with the directory they run in) in order.
 */
export function checkShell(
  root: string,
  file: string,
  code: string,
): { issues: ShIssue[]; curls: { command: string; cwd: string }[] } {
  const issues: ShIssue[] = [];
  const curls: { command: string; cwd: string }[] = [];
  const names = installable(root);
  // Commands in a README run from the repository root, or from the README's folder when it is a
  // package or an example (`cd examples/x` in the root README, `npm start` in the example's).
  const fileDir = join(root, file, '..');
  let cwd = root;
  for (const raw of code.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    for (const command of commandsOf(line)) {
      const w = words(command);
      const [cmd, sub, ...rest] = w;
      if (cmd === 'cd') {
        const target = normalize(join(cwd, sub ?? ''));
        const fromFile = normalize(join(fileDir, '..', sub ?? ''));
        if (existsSync(target)) cwd = target;
        else if (existsSync(fromFile)) cwd = fromFile;
        else issues.push({ command, problem: `no directory ${sub}` });
      } else if (cmd === 'npm' && (sub === 'run' || sub === 'start' || sub === 'test')) {
        const script = sub === 'run' ? rest[0] : sub;
        const dirs = [cwd, fileDir];
        const found = dirs.some((d) => readPkg(d)?.scripts?.[script ?? ''] !== undefined);
        if (!found) issues.push({ command, problem: `no npm script "${script}" in ${rel(root, cwd)}` });
      } else if (cmd === 'npm' && (sub === 'install' || sub === 'i' || sub === 'ci')) {
        for (const name of rest.filter((x) => !x.startsWith('-'))) {
          const bare = name.replace(/(?<=.)@[^/]*$/, '');
          if (!names.has(bare))
            issues.push({
              command,
              problem: `${bare} is not a package of this repository or a dependency it names`,
            });
        }
      } else if (cmd === 'curl') {
        curls.push({ command, cwd });
      } else if (cmd === 'npx' && sub !== 'vitest') {
        if (!existsSync(join(root, 'node_modules/.bin', sub ?? ''))) {
          issues.push({ command, problem: `npx ${sub}: not a binary installed by this repository` });
        }
      } else if (cmd === 'npx' && sub === 'vitest') {
        // `npx vitest run <paths>`: every path exists.
        for (const p of rest.filter((x) => x !== 'run' && !x.startsWith('-'))) {
          if (!existsSync(join(root, p))) issues.push({ command, problem: `no path ${p}` });
        }
      } else {
        issues.push({ command, problem: `the doc harness does not know "${cmd}" (test/docs/sh.ts)` });
      }
    }
  }
  return { issues, curls };
}

const rel = (root: string, dir: string) => dir.slice(root.length) || '.';
