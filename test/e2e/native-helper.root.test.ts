import { describe } from 'vitest';
import { isRoot } from './lib';
import { nativeSuites } from './native-helper.shared';

describe.skipIf(!isRoot)('ctr-helper suites (root)', () => nativeSuites());
