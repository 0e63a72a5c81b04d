// node --import ./test/support/record-imports.mjs: log every module loaded (see import-recorder.mjs).
import { register } from 'node:module';

register('./import-recorder.mjs', import.meta.url);
