// Bundles Auth0's browser libraries for e2e's browser tests, as an app's build
// would: `node build.mjs <outdir>` writes auth0js.js (auth0-js 10), auth0js9.js
// (auth0-js 9) and lock.js (Lock 14), each an IIFE setting its window global.
//
// auth0-js ships a UMD build ("main") and an ES module build ("module"). esbuild
// picks "main" for require(), and does not see the UMD as CommonJS (it only
// tests `typeof exports`), so the exports Lock requires would be empty. Webpack,
// which most Lock apps use, takes "module" for require() too: so does this.
import * as esbuild from "esbuild";

const outdir = process.argv[2];
if (!outdir) {
  console.error("usage: node build.mjs <outdir>");
  process.exit(2);
}

const auth0jsAsModule = {
  name: "auth0-js-as-module",
  setup(build) {
    build.onResolve({ filter: /^auth0-js(-9)?$/ }, (args) => {
      if (args.pluginData === "as-module") return undefined;
      return build.resolve(args.path, {
        kind: "import-statement",
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: "as-module",
      });
    });
  },
};

await esbuild.build({
  entryPoints: ["auth0js.js", "auth0js9.js", "lock.js"],
  bundle: true,
  format: "iife",
  minify: true,
  outdir,
  define: { "process.env.NODE_ENV": '"production"', global: "window" },
  plugins: [auth0jsAsModule],
  logLevel: "warning",
});
