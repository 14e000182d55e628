// Drives Kinema through the official `openai` npm package, unchanged: `node openai-client.mjs <command> '<json args>'`.
// OPENAI_MODULE is the package's index.mjs (the test suite's node_modules), OPENAI_BASE_URL and OPENAI_API_KEY point
// at the server under test. Prints one JSON object: the command's result, or {"error": …} describing what the SDK threw.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

const { default: OpenAI } = await import(pathToFileURL(process.env.OPENAI_MODULE).href);
const [command, rawArgs] = process.argv.slice(2);
const args = rawArgs ? JSON.parse(rawArgs) : {};
const client = new OpenAI({
  baseURL: process.env.OPENAI_BASE_URL,
  apiKey: args.apiKey ?? process.env.OPENAI_API_KEY,
  maxRetries: 0,
});

function describeError(error) {
  // The SDK's typed errors: the class name is what callers catch on.
  const typed = ['BadRequestError', 'AuthenticationError', 'NotFoundError', 'ConflictError', 'UnprocessableEntityError',
    'PermissionDeniedError', 'RateLimitError', 'InternalServerError'].find((name) => error instanceof OpenAI[name]);
  return {
    error: {
      name: typed ?? error.constructor.name,
      isApiError: error instanceof OpenAI.APIError,
      status: error.status ?? null,
      param: error.param ?? null,
      type: error.type ?? null,
      message: error.message,
    },
  };
}

async function createBody() {
  const body = { prompt: args.prompt };
  for (const key of ['model', 'seconds', 'size']) {
    if (args[key] !== undefined) body[key] = args[key];
  }
  if (args.imagePath) {
    body.input_reference = await OpenAI.toFile(fs.readFileSync(args.imagePath), 'reference.png');
  } else if (args.imageUrl) {
    body.input_reference = { image_url: args.imageUrl };
  }
  return body;
}

async function poll(id) {
  const deadline = Date.now() + (args.timeoutMs ?? 120000);
  const statuses = [];
  for (;;) {
    const video = await client.videos.retrieve(id);
    if (statuses.at(-1) !== video.status) statuses.push(video.status);
    if (video.status === 'completed' || video.status === 'failed') return { video, statuses };
    if (Date.now() > deadline) throw new Error(`video ${id} still ${video.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const commands = {
  create: async () => client.videos.create(await createBody()),
  createAndPoll: async () => poll((await client.videos.create(await createBody())).id),
  retrieve: async () => client.videos.retrieve(args.id),
  poll: async () => poll(args.id),
  // Pages exactly as the SDK does: getNextPage() asks for after=<last_id> while has_more.
  listPages: async () => {
    const pages = [];
    let page = await client.videos.list({ limit: args.limit, order: args.order });
    for (;;) {
      pages.push(page.data.map((video) => video.id));
      if (!page.hasNextPage()) break;
      page = await page.getNextPage();
    }
    return { pages };
  },
  // And as most callers do: for await over every item.
  listAll: async () => {
    const ids = [];
    for await (const video of client.videos.list({ limit: args.limit, order: args.order })) ids.push(video.id);
    return { ids };
  },
  download: async () => {
    const response = await client.videos.downloadContent(args.id, args.variant ? { variant: args.variant } : {});
    const bytes = Buffer.from(await response.arrayBuffer());
    fs.writeFileSync(args.out, bytes);
    return { contentType: response.headers.get('content-type'), length: bytes.length };
  },
  delete: async () => client.videos.delete(args.id),
  remix: async () => client.videos.remix(args.id, { prompt: args.prompt }),
  unwrap: async () => client.webhooks.unwrap(args.body, args.headers, args.secret),
};

try {
  const result = await commands[command]();
  process.stdout.write(JSON.stringify(result));
} catch (error) {
  process.stdout.write(JSON.stringify(describeError(error)));
}
