import mongoose from 'mongoose';
const client = new mongoose.mongo.MongoClient(process.argv[2]!, { serverSelectionTimeoutMS: 5000 });
await client.connect();
let t=Date.now(); const dbs = await client.db('admin').command({ listDatabases: 1, nameOnly: true }); console.log(dbs.databases.length, 'dbs', Date.now()-t);
t=Date.now(); console.log(await client.db('x_probe_i11').collection('p').findOne({}), 'find', Date.now()-t);
t=Date.now(); console.log(await client.db('admin').command({ currentOp: 1 }).then(r => JSON.stringify(r).slice(0, 1500)).catch(e => e.message), Date.now()-t);
await client.close();
