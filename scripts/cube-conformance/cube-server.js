// Starts the real Cube.js through its server API, configured only by the
// CUBEJS_* environment that run.mjs sets (as `cubejs-server` would be).
// Prints "ready <port>" once it listens.
const CubejsServer = require('@cubejs-backend/server');

new CubejsServer()
  .listen()
  .then(({ port }) => console.log(`ready ${port}`))
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
