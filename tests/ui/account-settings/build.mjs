// Builds the page once per upstream SDK version in package.json (`stack-react-<version>`
// aliases of `@stackframe/react`), each into one self-contained file:
// `dist/<version>/index.html`. The browser tests serve that file as a customer's site.
import { readFileSync } from "node:fs";
import { build } from "vite";
import { viteSingleFile } from "vite-plugin-singlefile";

const manifest = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));
const aliases = Object.entries(manifest.devDependencies).filter(([name]) => name.startsWith("stack-react-"));

for (const [alias, spec] of aliases) {
  const version = spec.split("@").pop();
  await build({
    logLevel: "warn",
    resolve: { alias: { "@stackframe/react": alias } },
    define: { "process.env.NODE_ENV": JSON.stringify("production") },
    plugins: [viteSingleFile()],
    build: {
      outDir: `dist/${version}`,
      emptyOutDir: true,
      chunkSizeWarningLimit: 100000,
      rollupOptions: {
        // Upstream's components mark their modules "use client" (for Next.js); harmless here.
        onwarn(warning, warn) {
          if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
        },
      },
    },
  });
  console.log(`built dist/${version}/index.html with @stackframe/react ${version}`);
}
