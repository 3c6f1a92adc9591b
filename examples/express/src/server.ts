import { runDemo } from '@evict/demo-kit';
import { startDemo } from './app.js';

await runDemo('Express', startDemo, { jwtLogin: true });
