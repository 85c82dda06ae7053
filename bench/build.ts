// The code under test. The bench copies dist/src, bin/ and node_modules (about 160 MB, a
// second) to its temp dir when it starts and runs ferryd and the ferry client from that copy,
// so a rebuild or a reinstall in the working tree while the bench runs (`npm run build`, a
// test run, `npm ci` re-applying patches/) can neither break it nor mix two builds in one run.

import fs from 'node:fs';
import path from 'node:path';

/** The repository: dist/bench/build.js lives two levels below it. */
export const REPO = path.resolve(__dirname, '..', '..');

let root = REPO;

/** Where bin/ and dist/src/ of the code under test are. */
export function codeRoot(): string {
  return root;
}

export function snapshotBuild(dir: string): void {
  fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
  fs.cpSync(path.join(REPO, 'dist', 'src'), path.join(dir, 'dist', 'src'), { recursive: true });
  fs.cpSync(path.join(REPO, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(dir, 'package.json'));
  fs.cpSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  root = dir;
}
