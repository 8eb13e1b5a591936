import { startMongoServer } from './src/mongoServer.js';
const s = await startMongoServer();
console.log(s.uri);
process.on('SIGTERM', async () => { await s.stop(); process.exit(0); });
setInterval(() => {}, 1 << 30);
