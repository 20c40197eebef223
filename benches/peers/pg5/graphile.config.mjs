// PostGraphile 5 for the dashboard benchmark: the Amber preset over the public schema.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  // As in PostGraphile 4: order and filter by any column, not only indexed ones.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["public"] }),
  ],
  grafserv: { port: Number(process.env.PORT), host: "127.0.0.1" },
  grafast: { explain: false },
};
