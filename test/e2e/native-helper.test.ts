import { describe } from 'vitest';
import { nativeSuites } from './native-helper.shared';

describe('ctr-helper suites (rootless)', () => nativeSuites());
