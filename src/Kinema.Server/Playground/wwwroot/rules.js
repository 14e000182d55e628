// The contract's rules, checked in the page before anything is sent.
// They mirror src/Kinema.Contracts/Rules/GenerationRequestRules.Validate.cs (and the data-URI check of
// AddressPolicy.cs): same limits, same field paths, same messages, so a mistake reads the same whether the page or
// the server catches it. Change both together. The server stays the authority: whatever slips past lands as its 400.

export const LIMITS = Object.freeze({
  maxPromptLength: 2500,
  maxShotPromptLength: 512,
  minDuration: 3,
  maxDuration: 15,
  maxShots: 6,
  maxElements: 3,
  minElementImages: 2,
  maxElementImages: 4,
  maxImageUrls: 2,
  maxElementNameLength: 64,
  maxElementDescriptionLength: 500,
  maxDataUriLength: 28 * 1024 * 1024,
});

export const MODES = Object.freeze(['std', 'pro', '4k']);
export const ASPECT_RATIOS = Object.freeze(['16:9', '9:16', '1:1']);

// The server accepts these as data: URIs (AddressPolicy.CheckDataUri); GIF is not among them.
export const IMAGE_TYPES = Object.freeze(['image/png', 'image/jpeg', 'image/webp']);

const ELEMENT_NAME = /^[A-Za-z0-9_-]+$/;
const isBlank = (value) => typeof value !== 'string' || value.trim().length === 0;
const truncate = (value) => (value == null ? '' : value.length > 40 ? value.slice(0, 40) + '…' : String(value));

/** Every broken rule of a create body, as {param, message}; an empty array when it may be sent. */
export function validate(body) {
  // Absent fields take the contract's defaults, as the server's parse gives them (GenerationRequestRules.Parse.cs).
  const request = { mode: 'std', duration: 5, aspect_ratio: '16:9', ...body };
  const violations = [];
  const add = (param, message) => violations.push({ param, message });

  if (request.model !== 'kling-v3') add('model', `model must be 'kling-v3', not '${truncate(request.model)}'`);

  const multiShot = request.multi_shot === true;
  const shots = request.multi_prompt ?? [];
  const promptRequired = !multiShot || (request.shot_type === 'intelligence' && shots.length === 0);
  if (request.prompt == null) {
    if (promptRequired) {
      add('prompt', multiShot
        ? "prompt is required with shot_type 'intelligence' when no multi_prompt is given"
        : 'prompt is required (it may be omitted only in multi-shot mode)');
    }
  } else if (isBlank(request.prompt) && promptRequired) {
    add('prompt', 'prompt must not be empty');
  } else if (request.prompt.length > LIMITS.maxPromptLength) {
    add('prompt', `prompt must be at most ${LIMITS.maxPromptLength} characters (it has ${request.prompt.length})`);
  }

  if (request.negative_prompt != null && request.negative_prompt.length > LIMITS.maxPromptLength) {
    add('negative_prompt', `negative_prompt must be at most ${LIMITS.maxPromptLength} characters (it has ${request.negative_prompt.length})`);
  }

  if (!MODES.includes(request.mode)) add('mode', `mode must be one of std, pro, 4k, not '${truncate(request.mode)}'`);

  const duration = request.duration;
  const durationValid = Number.isInteger(duration) && duration >= LIMITS.minDuration && duration <= LIMITS.maxDuration;
  if (!durationValid) {
    add('duration', `duration must be from ${LIMITS.minDuration} to ${LIMITS.maxDuration} seconds, not ${Number.isFinite(duration) ? duration : 'a whole number'}`);
  }

  if (!ASPECT_RATIOS.includes(request.aspect_ratio)) {
    add('aspect_ratio', `aspect_ratio must be one of 16:9, 9:16, 1:1, not '${truncate(request.aspect_ratio)}'`);
  }

  validateImages(request.image_urls ?? [], add);
  if (multiShot) validateShots(request, durationValid, add);
  validateElements(request.elements ?? [], add);
  return violations;
}

function validateImages(urls, add) {
  if (urls.length > LIMITS.maxImageUrls) {
    add('image_urls', `image_urls must have at most ${LIMITS.maxImageUrls} images (first frame, last frame), not ${urls.length}`);
    return;
  }
  urls.forEach((url, i) => checkImage(`image_urls[${i}]`, url, add));
}

function validateShots(request, durationValid, add) {
  const type = request.shot_type;
  if (type == null) {
    add('shot_type', "shot_type is required when multi_shot is true: 'customize' or 'intelligence'");
    return;
  }
  if (type !== 'customize' && type !== 'intelligence') {
    add('shot_type', `shot_type must be 'customize' or 'intelligence', not '${truncate(type)}'`);
    return;
  }

  const shots = request.multi_prompt ?? [];
  if (shots.length === 0) {
    if (type === 'customize') add('multi_prompt', "multi_prompt is required with shot_type 'customize': 1 to 6 shots");
    return;
  }
  if (shots.length > LIMITS.maxShots) {
    add('multi_prompt', `multi_prompt must have 1 to ${LIMITS.maxShots} shots, not ${shots.length}`);
    return;
  }

  shots.forEach((shot, i) => {
    const path = `multi_prompt[${i}]`;
    if (shot.index !== i + 1) {
      add(`${path}.index`, `${path}.index must be ${i + 1}: shot indexes start at 1 and are continuous, in order`);
    }
    if (isBlank(shot.prompt)) {
      add(`${path}.prompt`, `${path}.prompt must not be empty`);
    } else if (shot.prompt.length > LIMITS.maxShotPromptLength) {
      add(`${path}.prompt`, `${path}.prompt must be at most ${LIMITS.maxShotPromptLength} characters (it has ${shot.prompt.length})`);
    }
    if (!Number.isInteger(shot.duration) || shot.duration < 1) {
      add(`${path}.duration`, `${path}.duration must be at least 1`);
    } else if (durationValid && shot.duration > request.duration) {
      add(`${path}.duration`, `${path}.duration must not exceed the task's duration (${request.duration})`);
    }
  });

  const sum = shots.reduce((total, shot) => total + (Number.isFinite(shot.duration) ? shot.duration : 0), 0);
  if (durationValid && sum !== request.duration) {
    add('multi_prompt', `the shots' durations add up to ${sum}, but they must add up to duration (${request.duration})`);
  }
}

function validateElements(elements, add) {
  if (elements.length > LIMITS.maxElements) {
    add('elements', `elements must have at most ${LIMITS.maxElements} subjects, not ${elements.length}`);
    return;
  }

  const seen = new Set();
  elements.forEach((element, i) => {
    const path = `elements[${i}]`;
    const name = element.name;
    if (isBlank(name)) {
      add(`${path}.name`, `${path}.name must not be empty`);
    } else if (name.length > LIMITS.maxElementNameLength || !ELEMENT_NAME.test(name)) {
      add(`${path}.name`, `${path}.name must be 1 to ${LIMITS.maxElementNameLength} letters, digits, '_' or '-', so prompts can mention it as @name`);
    } else if (seen.has(name.toLowerCase())) {
      add(`${path}.name`, `${path}.name '${name}' is used by an earlier element; names must be unique`);
    } else {
      seen.add(name.toLowerCase());
    }

    if (isBlank(element.description)) {
      add(`${path}.description`, `${path}.description must not be empty`);
    } else if (element.description.length > LIMITS.maxElementDescriptionLength) {
      add(`${path}.description`, `${path}.description must be at most ${LIMITS.maxElementDescriptionLength} characters`);
    }

    const urls = element.element_input_urls ?? [];
    if (urls.length < LIMITS.minElementImages || urls.length > LIMITS.maxElementImages) {
      add(`${path}.element_input_urls`,
        `${path}.element_input_urls must have ${LIMITS.minElementImages} to ${LIMITS.maxElementImages} images (the first frontal), not ${urls.length}`);
      return;
    }
    urls.forEach((url, j) => checkImage(`${path}.element_input_urls[${j}]`, url, add));
  });
}

// The page only ever sends data: URIs it made from picked files; this is AddressPolicy.CheckDataUri's shape check.
function checkImage(param, url, add) {
  if (isBlank(url)) {
    add(param, `${param} must not be empty`);
    return;
  }
  if (!url.toLowerCase().startsWith('data:')) return; // http(s) URLs: the server checks their address
  const comma = url.indexOf(',');
  const header = comma > 0 ? url.slice(5, comma).toLowerCase() : '';
  if (header === 'image/gif;base64') {
    add(param, `${param} is a GIF data URI; Kinema accepts data:image/(png|jpeg|webp);base64, here `
      + '(POST /v1/uploads/images takes a GIF and keeps its first frame as a PNG)');
  } else if (comma < 0 || !['image/png;base64', 'image/jpeg;base64', 'image/jpg;base64', 'image/webp;base64'].includes(header)) {
    add(param, `${param} must be an https:// or http:// URL or a data:image/(png|jpeg|webp);base64, URI`);
  } else if (url.length > LIMITS.maxDataUriLength) {
    add(param, `${param} is a data URI over ${LIMITS.maxDataUriLength / (1024 * 1024)} MiB; upload the image and pass its URL`);
  } else if (comma === url.length - 1) {
    add(param, `${param} is a data URI whose base64 payload is empty or invalid`);
  }
}
