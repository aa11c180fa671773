/**
 * Procedural generator of short children's stories: the training corpus of the project's own tiny
 * demo model. Every story is built from typed slots (a hero with a name, a kind and pronouns; a
 * place with its sights, games and hiding spots; an object with what it is for and where it can
 * be lost) and one of several plot schemas whose steps depend on each other, each step with a
 * few alternative phrasings. Only the seeded Rng drives it, so a seed always gives the same text.
 *
 * The text uses ASCII letters, spaces and . , ! ? " ' only: the tokenizer is trained on it.
 */
import { Rng } from '../../src/engine/rng.js';

// ---------------------------------------------------------------------------------------------
// Small helpers

type Act = readonly [base: string, past: string];

class Dice {
  constructor(private readonly rng: Rng) {}
  float(): number {
    return this.rng.nextFloat();
  }
  int(n: number): number {
    return Math.floor(this.rng.nextFloat() * n);
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.rng.nextFloat() < p;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
  /** `n` distinct items (fewer if the list is shorter). */
  some<T>(items: readonly T[], n: number): T[] {
    return this.shuffle(items).slice(0, n);
  }
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of items) total += w;
    let x = this.float() * total;
    for (const [item, w] of items) {
      x -= w;
      if (x < 0) return item;
    }
    return items[items.length - 1]![0];
  }
}

export function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function lc(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** "a" or "an" for the phrase that follows. */
export function article(phrase: string): 'a' | 'an' {
  const w = phrase.toLowerCase();
  if (/^(one|once|uni|use|usu|eu)/.test(w)) return 'a';
  if (/^(hour|honest)/.test(w)) return 'an';
  return /^[aeiou]/.test(w) ? 'an' : 'a';
}

function a(phrase: string): string {
  return `${article(phrase)} ${phrase}`;
}

function plural(n: string): string {
  if (n === 'mouse') return 'mice';
  if (n === 'fox') return 'foxes';
  return /[^aeiou]y$/.test(n) ? `${n.slice(0, -1)}ies` : `${n}s`;
}

/** "there was a barn" / "there were cows". */
function thereIs(np: string): string {
  return /^(a|an|the|one) /.test(np) ? `there was ${np}` : `there were ${np}`;
}

function poss(ref: string): string {
  return ref.endsWith('s') ? `${ref}'` : `${ref}'s`;
}

// ---------------------------------------------------------------------------------------------
// Characters

export interface Species {
  readonly n: string;
  readonly young: string;
  readonly colors: readonly string[];
  readonly looks: readonly string[];
  readonly homes: readonly string[];
  /** Past-tense verb phrase for a happy animal; {his} is the animal's own pronoun. */
  readonly happy: string;
  readonly likes: readonly string[];
  /** Places (keys) where this animal lives and plays. */
  readonly places: readonly string[];
  readonly small: boolean;
  readonly skill?: string;
}

export class Char {
  constructor(
    public name: string,
    /** How the narration refers to this character: "Lily", "her mom", "the boy". */
    public ref: string,
    readonly female: boolean,
    /** "girl", "boy", "mom", "dad", "grandma", a species noun, ... */
    readonly kind: string,
    readonly animal: Species | null = null,
  ) {}
  get he(): string {
    return this.female ? 'she' : 'he';
  }
  get him(): string {
    return this.female ? 'her' : 'him';
  }
  get his(): string {
    return this.female ? 'her' : 'his';
  }
  get himself(): string {
    return this.female ? 'herself' : 'himself';
  }
  get He(): string {
    return cap(this.he);
  }
  get His(): string {
    return cap(this.his);
  }
  get Ref(): string {
    return cap(this.ref);
  }
  /** "Lily's", "her mom's". */
  get refs(): string {
    return poss(this.ref);
  }
}

/** Replaces {he} {him} {his} {himself} {He} {His} with the character's pronouns. */
function fill(text: string, c: Char): string {
  return text.replace(/\{(he|him|his|himself|He|His)\}/g, (_, k: string) => c[k as 'he']);
}

const GIRLS = [
  'Lily', 'Mia', 'Emma', 'Anna', 'Lucy', 'Amy', 'Zoe', 'Ella', 'Rosie', 'Ruby', 'Sophie', 'Chloe',
  'Grace', 'Molly', 'Kate', 'Jane', 'Nora', 'Ivy', 'Hannah', 'Maya', 'Sally', 'Bella', 'Jenny',
  'Tina', 'Nina', 'Ava', 'Sara', 'Lola', 'Penny', 'Katie', 'Julie', 'Amber',
] as const;
const BOYS = [
  'Tom', 'Ben', 'Max', 'Sam', 'Jack', 'Tim', 'Leo', 'Jake', 'Finn', 'Noah', 'Luke', 'Danny', 'Joe',
  'Billy', 'Bobby', 'Peter', 'Henry', 'Oliver', 'Jim', 'Eli', 'Owen', 'Ryan', 'Adam', 'Theo',
  'Jay', 'Mark', 'Timmy', 'Kevin', 'Toby', 'Freddie', 'Ted', 'Bob',
] as const;
const PET_NAMES = [
  'Spot', 'Buddy', 'Coco', 'Pip', 'Rex', 'Patch', 'Sunny', 'Fluffy', 'Pepper', 'Ginger', 'Honey',
  'Biscuit', 'Oscar', 'Rusty', 'Snowy', 'Milo', 'Lulu', 'Zip', 'Bingo', 'Dot', 'Peanut', 'Nibbles',
  'Scout', 'Tiny', 'Bubba', 'Sparky', 'Muffin', 'Pumpkin',
] as const;
/** Surnames for the neighbor and the teacher ("Mr Green", "Miss Rose"). */
const SURNAMES = ['Green', 'Brown', 'Rose', 'Bell', 'Hill', 'Wood', 'Lane', 'Berry', 'Snow', 'Gray'] as const;

const KID_ADJS = [
  'little', 'little', 'happy', 'kind', 'curious', 'cheerful', 'friendly', 'playful', 'gentle',
  'clever', 'sweet', 'good', 'busy', 'smart', 'silly',
] as const;

/** Where a child lives: after "lived". */
const HUMAN_HOMES = [
  'in a small house near the woods', 'in a little house by the sea', 'on a big farm',
  'in a busy town', 'in a quiet village', 'in a yellow house with a red door', 'in a big city',
  'in a small town by a river', 'near a big park', 'in a little house on a hill',
  'in a cozy house with a big garden', 'in a white house at the end of a long road',
  'in a little blue house', 'in a quiet town with lots of trees', 'next to a big green field',
  'in a small house with a red roof', 'in a tall building in the city', 'in a little village by a lake',
] as const;

const HUMAN_LIKES = [
  'play outside', 'sing songs', 'draw pictures', 'run and jump', 'play with {his} toys',
  'look at the clouds', 'help {his} mom in the garden', 'read books with {his} dad',
  'dance in the kitchen', 'play games with {his} friends', 'build things with blocks',
  'splash in puddles', 'look for bugs in the grass', 'laugh and play all day',
] as const;

export const SPECIES: readonly Species[] = [
  {
    n: 'dog', young: 'puppy', colors: ['brown', 'white', 'black', 'spotted'], looks: ['fluffy', 'happy', 'playful'],
    homes: ['in a little dog house behind a big white house', 'with a kind family in a house with a big yard'],
    happy: 'wagged {his} tail', likes: ['chase sticks', 'run in the grass', 'dig in the dirt', 'play fetch'],
    places: ['park', 'backyard', 'meadow', 'farm', 'beach', 'field'], small: false,
  },
  {
    n: 'cat', young: 'kitten', colors: ['gray', 'orange', 'black', 'white'], looks: ['fluffy', 'soft', 'curious'],
    homes: ['in a cozy house with a sunny window', 'in a little house on a quiet street'],
    happy: 'purred', likes: ['nap in the sun', 'chase balls of yarn', 'climb trees', 'play with string'],
    places: ['garden', 'backyard', 'park', 'farm'], small: true, skill: 'climb',
  },
  {
    n: 'bunny', young: 'bunny', colors: ['white', 'brown', 'gray'], looks: ['fluffy', 'soft', 'happy'],
    homes: ['in a hole under a big tree', 'in a cozy burrow at the edge of the woods'],
    happy: 'hopped up and down', likes: ['hop in the grass', 'eat carrots', 'nibble on sweet clover'],
    places: ['meadow', 'forest', 'garden', 'field', 'woods'], small: true, skill: 'hop',
  },
  {
    n: 'bear', young: 'cub', colors: ['brown', 'black'], looks: ['fuzzy', 'big', 'happy'],
    homes: ['in a cave in the big forest', 'in a big green forest'],
    happy: 'clapped {his} paws', likes: ['eat honey', 'catch fish in the river', 'climb trees'],
    places: ['forest', 'woods', 'river', 'meadow', 'mountain'], small: false, skill: 'climb',
  },
  {
    n: 'mouse', young: 'mouse', colors: ['gray', 'brown', 'white'], looks: ['tiny', 'quick', 'curious'],
    homes: ['in a tiny hole in the wall of a big house', 'in a little hole under an old barn'],
    happy: 'squeaked with joy', likes: ['nibble on cheese', 'explore', 'play hide and seek'],
    places: ['farm', 'garden', 'meadow', 'field'], small: true,
  },
  {
    n: 'fox', young: 'fox', colors: ['red', 'orange'], looks: ['clever', 'quick', 'curious'],
    homes: ['in a den in the woods', 'in a cozy den under a hill'],
    happy: 'swished {his} bushy tail', likes: ['run through the tall grass', 'play hide and seek', 'chase butterflies'],
    places: ['woods', 'forest', 'meadow', 'field', 'hill'], small: false,
  },
  {
    n: 'duck', young: 'duckling', colors: ['yellow', 'white', 'brown'], looks: ['fluffy', 'happy', 'busy'],
    homes: ['by a quiet pond', 'near a big blue lake'],
    happy: 'flapped {his} wings', likes: ['swim in the pond', 'splash in the water', 'waddle in the grass'],
    places: ['pond', 'lake', 'farm', 'park', 'river'], small: true, skill: 'paddle',
  },
  {
    n: 'pig', young: 'piglet', colors: ['pink'], looks: ['round', 'happy', 'muddy'],
    homes: ['on a big farm', 'on a farm near a little red barn'],
    happy: 'oinked with joy', likes: ['roll in the mud', 'eat apples', 'play in the hay'],
    places: ['farm', 'meadow', 'field'], small: false,
  },
  {
    n: 'squirrel', young: 'squirrel', colors: ['gray', 'brown', 'red'], looks: ['busy', 'quick', 'fluffy'],
    homes: ['in a tall oak tree', 'in a cozy nest high in a tree'],
    happy: 'flicked {his} fluffy tail', likes: ['collect nuts', 'jump from branch to branch', 'run up trees'],
    places: ['park', 'forest', 'woods', 'garden', 'backyard'], small: true, skill: 'climb',
  },
  {
    n: 'frog', young: 'frog', colors: ['green'], looks: ['tiny', 'happy', 'jumpy'],
    homes: ['in a little green pond', 'by a pond full of lily pads'],
    happy: 'jumped for joy', likes: ['jump from lily pad to lily pad', 'catch bugs', 'sing at night'],
    places: ['pond', 'lake', 'garden', 'river'], small: true, skill: 'hop',
  },
  {
    n: 'owl', young: 'owl', colors: ['brown', 'white', 'gray'], looks: ['wise', 'sleepy', 'fluffy'],
    homes: ['in a hole in an old tree', 'high up in a tall tree in the woods'],
    happy: 'hooted with joy', likes: ['look at the stars', 'listen to the night', 'count the stars'],
    places: ['woods', 'forest', 'meadow'], small: true, skill: 'fly',
  },
  {
    n: 'bird', young: 'bird', colors: ['blue', 'yellow', 'red', 'brown'], looks: ['tiny', 'happy', 'busy'],
    homes: ['in a nest in a tall tree', 'in a cozy nest in a big garden'],
    happy: 'sang a happy song', likes: ['sing songs', 'fly over the trees', 'splash in the bird bath'],
    places: ['garden', 'park', 'forest', 'meadow', 'backyard'], small: true, skill: 'fly',
  },
  {
    n: 'lion', young: 'cub', colors: ['golden'], looks: ['young', 'fuzzy', 'playful'],
    homes: ['in the jungle', 'in a warm, sunny land with tall grass'],
    happy: 'gave a happy roar', likes: ['run in the sun', 'nap under a tree', 'play with {his} friends'],
    places: ['jungle', 'field', 'river'], small: false,
  },
  {
    n: 'elephant', young: 'elephant', colors: ['gray'], looks: ['big', 'young', 'gentle'],
    homes: ['in the jungle near a big river', 'in a warm land with tall trees'],
    happy: 'waved {his} trunk', likes: ['splash in the river', 'spray water with {his} trunk', 'eat leaves'],
    places: ['jungle', 'river', 'lake'], small: false,
  },
  {
    n: 'monkey', young: 'monkey', colors: ['brown'], looks: ['funny', 'playful', 'busy'],
    homes: ['in a tall tree in the jungle', 'in the jungle'],
    happy: 'did a flip', likes: ['swing from the trees', 'eat bananas', 'play tricks'],
    places: ['jungle', 'river', 'forest'], small: false, skill: 'climb',
  },
  {
    n: 'turtle', young: 'turtle', colors: ['green'], looks: ['slow', 'tiny', 'gentle'],
    homes: ['by a quiet pond', 'near a little river'],
    happy: 'smiled a slow, happy smile', likes: ['swim in the pond', 'sit in the sun', 'eat green leaves'],
    places: ['pond', 'river', 'lake', 'garden', 'beach'], small: true, skill: 'paddle',
  },
];

const speciesByName = (n: string): Species => SPECIES.find((s) => s.n === n)!;

// ---------------------------------------------------------------------------------------------
// Places

interface Place {
  readonly key: string;
  readonly the: string;
  /** "at the park", "in the forest", "on the farm". */
  readonly at: string;
  /** "to the park", "home". */
  readonly to: string;
  readonly tags: ReadonlySet<string>;
  readonly sights: readonly string[];
  readonly acts: readonly Act[];
  /** Where a lost thing can lie; "s:" marks a spot only small things fit. */
  readonly spots: readonly string[];
  /** Where a thing the wind took can end up (a predicate: "stuck high in a tall tree"). */
  readonly high: readonly string[];
}

function place(
  key: string, the: string, at: string, to: string, tags: string,
  sights: readonly string[], acts: readonly Act[], spots: readonly string[] = [], high: readonly string[] = [],
): Place {
  return { key, the, at, to, tags: new Set(tags.split(' ')), sights, acts, spots, high };
}

const TREE_HIGH = ['stuck high in the branches of a tall tree', 'caught on top of a big bush', 'stuck in the branches of an old tree'];

/**
 * Tags: out (outdoors), in (indoors), open (room to run and fly kites), water, sand, snow, wild
 * (animals live there), trip (a place to visit for a day), play (children play there), home.
 */
export const PLACES: readonly Place[] = [
  place('park', 'the park', 'at the park', 'to the park', 'out open water wild play trip bench',
    ['tall green trees', 'a little pond with ducks', 'a long red slide', 'pretty flowers', 'children playing on the swings'],
    [['play on the swings', 'played on the swings'], ['go down the slide', 'went down the slide'], ['run on the soft grass', 'ran on the soft grass'], ['feed the ducks', 'fed the ducks'], ['play tag', 'played tag']],
    ['under a big bush', 'behind an old tree', 'in the tall grass', 's:under a bench', 'next to the pond', 'near the slide'], TREE_HIGH),
  place('playground', 'the playground', 'at the playground', 'to the playground', 'out open play sand bench',
    ['a tall slide', 'red and blue swings', 'a big sandbox', 'a little merry go round', 'children running and laughing'],
    [['play on the swings', 'played on the swings'], ['go down the slide', 'went down the slide'], ['dig in the sandbox', 'dug in the sandbox'], ['climb on the monkey bars', 'climbed on the monkey bars'], ['play tag', 'played tag']],
    ['under the slide', 'behind the swings', 's:in the sandbox', 's:under a bench', 'near the fence'], ['caught on top of the fence', 'stuck on the roof of the little play house', 'stuck in a tree next to the swings']),
  place('beach', 'the beach', 'at the beach', 'to the beach', 'out open water sand play trip',
    ['soft yellow sand', 'big blue waves', 'pretty shells', 'birds flying over the water', 'little crabs running on the sand', 'a tall white lighthouse'],
    [['build a sandcastle', 'built a sandcastle'], ['splash in the waves', 'splashed in the waves'], ['look for shells', 'looked for shells'], ['dig in the sand', 'dug in the sand'], ['run along the water', 'ran along the water']],
    ['behind a big rock', 's:in the sand', 's:under a beach towel', 'next to an old boat', 'near the water'], ['stuck on top of a big rock', 'caught on a tall pole by the water']),
  place('forest', 'the forest', 'in the forest', 'to the forest', 'out wild trip',
    ['tall trees', 'soft green moss', 'a little stream', 'red and white mushrooms', 'birds singing in the trees'],
    [['walk along the path', 'walked along the path'], ['pick berries', 'picked berries'], ['listen to the birds', 'listened to the birds'], ['look for pinecones', 'looked for pinecones'], ['jump over logs', 'jumped over logs']],
    ['under a pile of leaves', 'behind a big rock', 'next to an old log', 'under a bush', 's:under a mushroom'], TREE_HIGH),
  place('woods', 'the woods', 'in the woods', 'to the woods', 'out wild trip',
    ['tall trees', 'a little stream', 'piles of crunchy leaves', 'a squirrel running up a tree', 'a big gray rock'],
    [['walk on the path', 'walked on the path'], ['jump in the leaves', 'jumped in the leaves'], ['look for acorns', 'looked for acorns'], ['listen to the birds', 'listened to the birds']],
    ['under a pile of leaves', 'behind a tree stump', 'next to a big log', 'under a bush'], TREE_HIGH),
  place('farm', 'the farm', 'on the farm', 'to the farm', 'out open wild trip',
    ['a big red barn', 'cows eating grass', 'pigs rolling in the mud', 'chickens and little chicks', 'a green tractor', 'sheep with soft wool'],
    [['feed the chickens', 'fed the chickens'], ['pet the cows', 'petted the cows'], ['ride on the tractor', 'rode on the tractor'], ['look for eggs', 'looked for eggs'], ['feed the goats', 'fed the goats']],
    ['in the hay', 'behind the barn', 'next to the pig pen', 'under the tractor', 's:in the chicken coop'], ['stuck on the roof of the barn', 'caught on top of the fence', 'stuck in a tall tree by the barn']),
  place('garden', 'the garden', 'in the garden', 'to the garden', 'out wild play',
    ['pretty flowers', 'red tomatoes', 'busy bees', 'yellow butterflies', 'a little bird bath'],
    [['water the flowers', 'watered the flowers'], ['pick flowers', 'picked flowers'], ['look for bugs', 'looked for bugs'], ['chase butterflies', 'chased butterflies']],
    ['behind the flower pots', 'under the big bushes', 's:under a big leaf', 'next to the bird bath', 'in the tall flowers'], ['stuck on top of the garden wall', 'caught in the branches of the apple tree']),
  place('backyard', 'the backyard', 'in the backyard', 'to the backyard', 'out play home',
    ['a big tree with a swing', 'green grass', 'a little shed', 'a tall fence'],
    [['swing on the tree swing', 'swung on the tree swing'], ['play tag', 'played tag'], ['blow bubbles', 'blew bubbles'], ['run around the big tree', 'ran around the big tree']],
    ['behind the shed', 'under the big tree', 'in the tall grass by the fence', 's:under the steps'], ['stuck high in the big tree', 'caught on top of the fence', 'stuck on the roof of the shed']),
  place('meadow', 'the meadow', 'in the meadow', 'to the meadow', 'out open wild trip',
    ['soft green grass', 'flowers of every color', 'butterflies', 'a big old tree', 'bees buzzing from flower to flower'],
    [['pick flowers', 'picked flowers'], ['chase butterflies', 'chased butterflies'], ['roll in the grass', 'rolled in the grass'], ['look at the clouds', 'looked at the clouds']],
    ['in the tall grass', 'behind the big old tree', 'under a bush', 's:in a patch of flowers'], ['stuck in the branches of the big old tree', 'caught on top of a tall bush']),
  place('lake', 'the lake', 'at the lake', 'to the lake', 'out open water wild trip',
    ['clear blue water', 'a little wooden dock', 'ducks swimming', 'fish jumping out of the water', 'boats with white sails'],
    [['throw stones in the water', 'threw stones in the water'], ['swim in the water', 'swam in the water'], ['go fishing', 'went fishing'], ['feed the ducks', 'fed the ducks']],
    ['under the dock', 'between two big rocks', 'next to a little boat', 's:in the sand by the water'], ['stuck in a tall tree by the water', 'caught on top of a tall bush']),
  place('pond', 'the pond', 'at the pond', 'to the pond', 'out water wild',
    ['green lily pads', 'frogs sitting on the lily pads', 'ducks swimming', 'tall reeds', 'little fish in the water'],
    [['watch the frogs jump', 'watched the frogs jump'], ['feed the ducks', 'fed the ducks'], ['throw stones in the water', 'threw stones in the water'], ['look for fish', 'looked for fish']],
    ['in the tall reeds', 'behind a big rock', 'under a bush', 's:between the rocks'], ['stuck in the branches of a tree by the pond', 'caught on top of a tall bush']),
  place('river', 'the river', 'by the river', 'to the river', 'out water wild trip',
    ['a little wooden bridge', 'smooth stones', 'fish swimming in the water', 'tall trees along the water'],
    [['throw sticks in the water', 'threw sticks in the water'], ['look for fish', 'looked for fish'], ['walk across the bridge', 'walked across the bridge'], ['skip stones', 'skipped stones']],
    ['under the bridge', 'behind a big rock', 's:between the stones', 'under a bush'], ['stuck in a tree by the water']),
  place('hill', 'the big hill', 'on the big hill', 'to the big hill', 'out open wild trip',
    ['soft green grass', 'a big tree on the top', 'the whole town far below', 'white clouds in the sky'],
    [['roll down the hill', 'rolled down the hill'], ['look at the clouds', 'looked at the clouds'], ['run up and down the hill', 'ran up and down the hill']],
    ['behind the big tree', 'in the tall grass', 'under a bush'], ['stuck in the big tree on the top of the hill']),
  place('mountain', 'the mountains', 'in the mountains', 'to the mountains', 'out wild trip',
    ['tall rocks', 'snow on the tops of the mountains', 'a waterfall', 'pine trees', 'a little cabin'],
    [['walk up a little path', 'walked up a little path'], ['look at the waterfall', 'looked at the waterfall'], ['have a picnic on a big rock', 'had a picnic on a big rock']]),
  place('zoo', 'the zoo', 'at the zoo', 'to the zoo', 'out trip',
    ['lions', 'tall giraffes', 'monkeys swinging from ropes', 'big gray elephants', 'penguins', 'a sleepy bear'],
    [['watch the monkeys play', 'watched the monkeys play'], ['see the lions', 'saw the lions'], ['feed the goats', 'fed the goats'], ['watch the penguins swim', 'watched the penguins swim']]),
  place('library', 'the library', 'at the library', 'to the library', 'in play',
    ['shelves full of books', 'a cozy reading corner', 'soft pillows on the floor', 'a big window'],
    [['read books', 'read books'], ['listen to a story', 'listened to a story'], ['look at picture books', 'looked at picture books']],
    ['under a chair', 'behind a shelf', 'under a table', 's:under a pillow']),
  place('school', 'school', 'at school', 'to school', 'in play',
    ['a big classroom', 'bright pictures on the walls', 'a box full of toys', 'little chairs and tables'],
    [['paint pictures', 'painted pictures'], ['sing songs', 'sang songs'], ['play with blocks', 'played with blocks'], ['listen to a story', 'listened to a story']],
    ['under a table', 'in the toy box', 'behind the door', 's:under a chair']),
  place('home', 'the house', 'at home', 'home', 'in home play',
    ['a big soft couch', 'a warm kitchen', 'a toy box', 'a window with a view of the garden'],
    [['play with blocks', 'played with blocks'], ['build a fort', 'built a fort'], ['play hide and seek', 'played hide and seek'], ['draw pictures', 'drew pictures']],
    ['under the bed', 'behind the couch', 'in the toy box', 's:under a pillow', 'in the laundry basket', 'under the kitchen table']),
  place('grandma', "{his} grandma's house", "at {his} grandma's house", "to {his} grandma's house", 'in play trip',
    ['a big old clock', 'a garden full of flowers', 'a cat sleeping by the window', 'a kitchen that smelled like cookies'],
    [['bake cookies', 'baked cookies'], ['play cards', 'played cards'], ['look at old pictures', 'looked at old pictures'], ['pick flowers in the garden', 'picked flowers in the garden']],
    ['under the big chair', 'behind the old clock', 'in a basket of yarn', 's:under a pillow on the couch']),
  place('jungle', 'the jungle', 'in the jungle', 'to the jungle', 'out wild beasts',
    ['big green leaves', 'tall trees with long vines', 'bright birds', 'a wide river', 'monkeys swinging in the trees'],
    [['swing on the vines', 'swung on the vines'], ['splash in the river', 'splashed in the river'], ['play hide and seek', 'played hide and seek']],
    ['under a big leaf', 'behind a tree', 'in the tall grass'], ['stuck high in a tall tree', 'caught in the long vines']),
  place('island', 'the little island', 'on the little island', 'to the little island', 'out sand water trip',
    ['white sand', 'tall palm trees', 'blue water all around', 'bright fish near the shore'],
    [['look for shells', 'looked for shells'], ['swim in the warm water', 'swam in the warm water'], ['build a sandcastle', 'built a sandcastle']]),
  place('pool', 'the pool', 'at the pool', 'to the pool', 'out water play',
    ['clear blue water', 'children splashing', 'a tall slide into the water'],
    [['splash in the water', 'splashed in the water'], ['go down the water slide', 'went down the water slide']]),
  place('fair', 'the fair', 'at the fair', 'to the fair', 'out trip',
    ['a big wheel with lights', 'colorful balloons', 'a clown with a red nose', 'horses going round and round'],
    [['ride the little train', 'rode the little train'], ['eat cotton candy', 'ate cotton candy'], ['ride the merry go round', 'rode the merry go round'], ['watch a funny clown', 'watched a funny clown']]),
  place('orchard', 'the apple farm', 'at the apple farm', 'to the apple farm', 'out open trip',
    ['rows and rows of apple trees', 'red and green apples', 'a big wooden cart', 'a little shop that sold apple pie'],
    [['pick red apples', 'picked red apples'], ['eat a juicy apple', 'ate a juicy apple'], ['ride in a wagon full of hay', 'rode in a wagon full of hay']]),
  place('pumpkins', 'the pumpkin patch', 'at the pumpkin patch', 'to the pumpkin patch', 'out open trip',
    ['big orange pumpkins', 'tiny pumpkins', 'a scarecrow with a funny hat', 'a maze made of hay'],
    [['pick a pumpkin', 'picked a pumpkin'], ['walk through the hay maze', 'walked through the hay maze'], ['ride in a wagon', 'rode in a wagon']]),
  place('snowhill', 'the snowy hill', 'on the snowy hill', 'to the snowy hill', 'out open snow trip',
    ['white snow everywhere', 'children on sleds', 'tall trees covered in snow', 'a snowman with a carrot nose'],
    [['slide down on a sled', 'slid down on a sled'], ['build a snowman', 'built a snowman'], ['make snow angels', 'made snow angels'], ['throw snowballs', 'threw snowballs']],
    ['in a pile of snow', 'behind a tree', 's:under the snow'], ['stuck in a tall tree covered in snow']),
  place('field', 'the big field', 'in the big field', 'to the big field', 'out open wild play',
    ['tall grass', 'yellow flowers', 'a big blue sky', 'a tall old tree'],
    [['run in the grass', 'ran in the grass'], ['fly kites', 'flew kites'], ['play tag', 'played tag'], ['look for bugs', 'looked for bugs']],
    ['in the tall grass', 'behind the old tree', 'under a bush'], ['stuck high in the tall old tree', 'caught on top of a bush']),
  place('castle', 'the old castle', 'at the old castle', 'to the old castle', 'out trip',
    ['tall stone towers', 'a big wooden door', 'a long bridge over the water', 'flags blowing in the wind'],
    [['climb up a tower', 'climbed up a tower'], ['play a game of knights and dragons', 'played a game of knights and dragons'], ['walk across the bridge', 'walked across the bridge']]),
  place('market', 'the market', 'at the market', 'to the market', 'out trip',
    ['red apples', 'fresh bread', 'baskets of berries', 'pretty flowers', 'a man selling balloons'],
    [['pick out some apples', 'picked out some apples'], ['smell the fresh bread', 'smelled the fresh bread'], ['buy some flowers', 'bought some flowers']]),
  place('town', 'the town', 'in town', 'to town', 'out trip',
    ['busy streets', 'a big clock', 'little shops', 'a fountain full of water'],
    [['look in the shop windows', 'looked in the shop windows'], ['throw a coin into the fountain and make a wish', 'threw a coin into the fountain and made a wish'], ['eat ice cream', 'ate ice cream']]),
  place('cave', 'the cave by the sea', 'at the cave by the sea', 'to the cave by the sea', 'out water trip',
    ['dark walls that sparkled', 'little pools of water', 'tiny crabs'],
    [['look in the little pools', 'looked in the little pools'], ['listen to the echo', 'listened to the echo']]),
  place('bakery', 'the bakery', 'at the bakery', 'to the bakery', 'in trip',
    ['fresh bread', 'big cakes', 'cookies with sprinkles', 'a baker with a tall white hat'],
    [['smell the warm bread', 'smelled the warm bread'], ['pick a cookie', 'picked a cookie']]),
  place('camp', 'the campsite', 'at the campsite', 'to the campsite', 'out wild trip',
    ['a little tent', 'a warm campfire', 'tall trees all around', 'a little lake with a wooden dock'],
    [['roast marshmallows', 'roasted marshmallows'], ['walk to the little lake', 'walked to the little lake'], ['sing songs by the fire', 'sang songs by the fire'], ['look for pinecones', 'looked for pinecones']]),
  place('hills', 'the green hills', 'in the green hills', 'to the green hills', 'out open wild trip',
    ['soft green grass', 'sheep eating grass', 'a little stone wall', 'white clouds'],
    [['roll down the hills', 'rolled down the hills'], ['count the sheep', 'counted the sheep'], ['fly a kite', 'flew a kite']],
    ['behind the stone wall', 'in the tall grass', 'under a bush'], ['stuck on top of the stone wall', 'caught in a little tree']),
  place('orchard2', 'the berry farm', 'at the berry farm', 'to the berry farm', 'out open trip',
    ['rows of berry bushes', 'red strawberries', 'blueberries', 'a little red barn'],
    [['pick strawberries', 'picked strawberries'], ['eat fresh berries', 'ate fresh berries'], ['fill a basket with berries', 'filled a basket with berries']]),
  place('seaside', 'the harbor', 'at the harbor', 'to the harbor', 'out water trip',
    ['big boats', 'little fishing boats', 'birds on the poles', 'a red lighthouse'],
    [['watch the boats', 'watched the boats'], ['count the boats', 'counted the boats'], ['eat fish and chips', 'ate fish and chips']]),
];

const placeByKey = (k: string): Place => PLACES.find((p) => p.key === k)!;

/** A place with {his} filled in for the hero. */
function placeFor(p: Place, h: Char): Place {
  if (!p.the.includes('{')) return p;
  return { ...p, the: fill(p.the, h), at: fill(p.at, h), to: fill(p.to, h) };
}

// ---------------------------------------------------------------------------------------------
// Objects

interface Obj {
  readonly n: string;
  readonly pl?: boolean;
  readonly adjs: readonly string[];
  /** s: fits anywhere; m: not in small spots; l: too big to lose. */
  readonly size: 's' | 'm' | 'l';
  readonly kind: 'toy' | 'wear' | 'thing';
  /** What you do with it, with it/them and {his} for the owner. */
  readonly play: Act;
  /** Playing with it together (for sharing). */
  readonly duo?: Act;
  /** Where it can be used: out, open, water, sand, snow, in. */
  readonly where?: string;
  /** The wind can take it. */
  readonly wind?: boolean;
  readonly rolls?: boolean;
  readonly lose?: false;
  /** What the wind does to it: "off {his} head". */
  readonly windFrom?: string;
}

const COLORS = ['red', 'blue', 'yellow', 'green', 'pink', 'purple', 'orange'];

export const OBJECTS: readonly Obj[] = [
  { n: 'ball', adjs: ['red', 'blue', 'bouncy', 'yellow', 'big', 'green', 'striped'], size: 's', kind: 'toy', play: ['bounce it and catch it', 'bounced it and caught it'], duo: ['play catch', 'played catch'], rolls: true },
  { n: 'soccer ball', adjs: ['new', 'old', 'black and white'], size: 'm', kind: 'toy', play: ['kick it as far as {he} could', 'kicked it as far as {he} could'], duo: ['kick it back and forth', 'kicked it back and forth'], where: 'open', rolls: true },
  { n: 'beach ball', adjs: ['big', 'colorful', 'striped'], size: 'm', kind: 'toy', play: ['toss it high in the air', 'tossed it high in the air'], duo: ['toss it back and forth', 'tossed it back and forth'], where: 'out', wind: true, rolls: true },
  { n: 'kite', adjs: ['red', 'yellow', 'rainbow', 'big', 'blue', 'bright'], size: 'm', kind: 'toy', play: ['fly it high in the sky', 'flew it high in the sky'], duo: ['take turns flying it', 'took turns flying it'], where: 'open', wind: true },
  { n: 'teddy bear', adjs: ['brown', 'soft', 'old', 'fluffy', 'little'], size: 's', kind: 'toy', play: ['hug it tight', 'hugged it tight'], duo: ['have a tea party with it', 'had a tea party with it'] },
  { n: 'doll', adjs: ['pretty', 'new', 'little', 'old', 'soft'], size: 's', kind: 'toy', play: ['dress it up in pretty clothes', 'dressed it up in pretty clothes'], duo: ['play house with it', 'played house with it'] },
  { n: 'toy car', adjs: ['red', 'fast', 'little', 'shiny', 'blue'], size: 's', kind: 'toy', play: ['race it across the floor', 'raced it across the floor'], duo: ['take turns racing it', 'took turns racing it'], rolls: true },
  { n: 'toy train', adjs: ['blue', 'wooden', 'long', 'little', 'red'], size: 's', kind: 'toy', play: ['push it along its little tracks', 'pushed it along its little tracks'], duo: ['build long tracks for it', 'built long tracks for it'], where: 'in' },
  { n: 'toy boat', adjs: ['little', 'red', 'wooden', 'white'], size: 's', kind: 'toy', play: ['sail it on the water', 'sailed it on the water'], duo: ['take turns sailing it', 'took turns sailing it'], where: 'water' },
  { n: 'blocks', pl: true, adjs: ['wooden', 'colorful', 'big'], size: 's', kind: 'toy', play: ['build tall towers with them', 'built a tall tower with them'], duo: ['build a big castle together', 'built a big castle together'], where: 'in', lose: false },
  { n: 'crayons', pl: true, adjs: ['new', 'colorful', 'bright'], size: 's', kind: 'toy', play: ['draw pictures with them', 'drew pictures with them'], duo: ['draw a big picture together', 'drew a big picture together'] },
  { n: 'picture book', adjs: ['new', 'old', 'big', 'little'], size: 's', kind: 'toy', play: ['read it again and again', 'read it again and again'], duo: ['read it together', 'read it together'] },
  { n: 'drum', adjs: ['little', 'red', 'loud'], size: 'm', kind: 'toy', play: ['bang on it loudly', 'banged on it loudly'], duo: ['make music together', 'made music together'] },
  { n: 'hat', adjs: ['red', 'blue', 'big', 'yellow', 'floppy', 'straw'], size: 's', kind: 'wear', play: ['wear it on sunny days', 'wore it on {his} head'], where: 'out', wind: true, windFrom: 'right off {his} head' },
  { n: 'scarf', adjs: ['warm', 'red', 'long', 'soft', 'striped'], size: 's', kind: 'wear', play: ['wear it on cold days', 'wore it around {his} neck'], wind: true, windFrom: 'right off {his} neck' },
  { n: 'mittens', pl: true, adjs: ['warm', 'red', 'blue', 'fuzzy'], size: 's', kind: 'wear', play: ['wear them in the snow', 'wore them to keep {his} hands warm'] },
  { n: 'jump rope', adjs: ['new', 'pink', 'long', 'red'], size: 's', kind: 'toy', play: ['jump and jump with it', 'jumped and jumped with it'], duo: ['take turns jumping', 'took turns jumping'], where: 'out' },
  { n: 'bucket', adjs: ['little', 'red', 'yellow', 'blue'], size: 's', kind: 'toy', play: ['fill it with sand', 'filled it with sand'], duo: ['fill it with sand together', 'filled it with sand together'], where: 'sand' },
  { n: 'shovel', adjs: ['little', 'red', 'blue', 'green'], size: 's', kind: 'toy', play: ['dig deep holes with it', 'dug a deep hole with it'], duo: ['take turns digging with it', 'took turns digging with it'], where: 'sand' },
  { n: 'bubble wand', adjs: ['pink', 'little', 'shiny', 'purple'], size: 's', kind: 'toy', play: ['blow big bubbles with it', 'blew big bubbles with it'], duo: ['take turns blowing bubbles', 'took turns blowing bubbles'], where: 'out' },
  { n: 'marbles', pl: true, adjs: ['shiny', 'colorful', 'glass'], size: 's', kind: 'toy', play: ['roll them across the floor', 'rolled them across the floor'], duo: ['play a game of marbles', 'played a game of marbles'], where: 'in', rolls: true },
  { n: 'toy robot', adjs: ['little', 'silver', 'shiny'], size: 's', kind: 'toy', play: ['make it walk and beep', 'made it walk and beep'], duo: ['take turns making it walk', 'took turns making it walk'] },
  { n: 'toy dinosaur', adjs: ['green', 'big', 'little'], size: 's', kind: 'toy', play: ['make it stomp and roar', 'made it stomp and roar'], duo: ['play dinosaurs', 'played dinosaurs'] },
  { n: 'stuffed bunny', adjs: ['soft', 'white', 'pink', 'little'], size: 's', kind: 'toy', play: ['carry it everywhere', 'carried it in {his} arms'] },
  { n: 'blanket', adjs: ['soft', 'warm', 'blue', 'fuzzy', 'old'], size: 'm', kind: 'thing', play: ['wrap {himself} up in it', 'wrapped {himself} up in it'], where: 'in' },
  { n: 'backpack', adjs: ['red', 'blue', 'new', 'little'], size: 'm', kind: 'thing', play: ['carry it on {his} back', 'carried it on {his} back'] },
  { n: 'lunch box', adjs: ['red', 'blue', 'shiny', 'new'], size: 's', kind: 'thing', play: ['take it to school', 'ate {his} lunch out of it'], where: 'in' },
  { n: 'necklace', adjs: ['pretty', 'shiny', 'gold', 'little'], size: 's', kind: 'wear', play: ['wear it every day', 'wore it proudly'] },
  { n: 'bracelet', adjs: ['pretty', 'shiny', 'red', 'little'], size: 's', kind: 'wear', play: ['wear it every day', 'wore it proudly'] },
  { n: 'ring', adjs: ['shiny', 'little', 'gold', 'pretty'], size: 's', kind: 'wear', play: ['wear it on {his} finger', 'wore it on {his} finger'] },
  { n: 'whistle', adjs: ['little', 'shiny', 'silver'], size: 's', kind: 'toy', play: ['blow it loudly', 'blew it loudly'], duo: ['take turns blowing it', 'took turns blowing it'] },
  { n: 'flute', adjs: ['little', 'wooden'], size: 's', kind: 'toy', play: ['play happy songs on it', 'played a happy song on it'], duo: ['take turns playing songs', 'took turns playing songs'] },
  { n: 'bell', adjs: ['little', 'shiny', 'gold'], size: 's', kind: 'toy', play: ['ring it', 'rang it'] },
  { n: 'guitar', adjs: ['little', 'red', 'toy'], size: 'm', kind: 'toy', play: ['play songs on it', 'played a song on it'], duo: ['sing songs together', 'sang songs together'] },
  { n: 'shell', adjs: ['pretty', 'pink', 'white', 'shiny', 'big'], size: 's', kind: 'thing', play: ['hold it up to {his} ear and listen to the sea', 'held it up to {his} ear and listened to the sea'] },
  { n: 'rock', adjs: ['smooth', 'shiny', 'round', 'little'], size: 's', kind: 'thing', play: ['keep it in {his} pocket', 'kept it in {his} pocket'] },
  { n: 'coin', adjs: ['shiny', 'gold', 'old'], size: 's', kind: 'thing', play: ['keep it in {his} pocket', 'kept it in {his} pocket'] },
  { n: 'umbrella', adjs: ['yellow', 'red', 'big', 'spotted'], size: 'm', kind: 'thing', play: ['twirl it around', 'twirled it around'], where: 'out', wind: true },
  { n: 'crown', adjs: ['shiny', 'gold', 'paper', 'sparkly'], size: 's', kind: 'wear', play: ['wear it on {his} head', 'wore it on {his} head'], duo: ['play king and queen', 'played king and queen'] },
  { n: 'cape', adjs: ['red', 'blue', 'long', 'shiny'], size: 's', kind: 'wear', play: ['wear it and pretend to fly', 'wore it and pretended to fly'], wind: true, windFrom: 'right off {his} back' },
  { n: 'magic wand', adjs: ['sparkly', 'little', 'pink', 'shiny'], size: 's', kind: 'toy', play: ['wave it and make wishes', 'waved it and made a wish'], duo: ['take turns making wishes', 'took turns making wishes'] },
  { n: 'paintbrush', adjs: ['little', 'new', 'soft'], size: 's', kind: 'thing', play: ['paint pictures with it', 'painted a picture with it'] },
  { n: 'flashlight', adjs: ['little', 'yellow', 'red'], size: 's', kind: 'thing', play: ['shine it into dark corners', 'shined it into dark corners'], duo: ['make shadow animals on the wall', 'made shadow animals on the wall'] },
  { n: 'sled', adjs: ['red', 'wooden', 'fast'], size: 'l', kind: 'toy', play: ['ride it down the snowy hill', 'rode it down the snowy hill'], duo: ['ride it down the hill together', 'rode it down the hill together'], where: 'snow', lose: false },
  { n: 'scooter', adjs: ['red', 'blue', 'shiny', 'new'], size: 'l', kind: 'toy', play: ['ride it up and down the street', 'rode it up and down the street'], duo: ['take turns riding it', 'took turns riding it'], where: 'out', lose: false },
  { n: 'bike', adjs: ['red', 'blue', 'shiny', 'new', 'green'], size: 'l', kind: 'toy', play: ['ride it around the block', 'rode it around the block'], duo: ['take turns riding it', 'took turns riding it'], where: 'out', lose: false },
  { n: 'wagon', adjs: ['red', 'little', 'old'], size: 'l', kind: 'toy', play: ['pull {his} toys around in it', 'pulled {his} toys around in it'], duo: ['take turns pulling each other in it', 'took turns pulling each other in it'], where: 'out', lose: false },
  { n: 'basket', adjs: ['little', 'brown', 'pretty'], size: 'm', kind: 'thing', play: ['carry flowers in it', 'carried flowers in it'] },
  { n: 'music box', adjs: ['little', 'pretty', 'old', 'shiny'], size: 's', kind: 'thing', play: ['listen to its sweet song', 'listened to its sweet song'], where: 'in' },
  { n: 'spinning top', adjs: ['red', 'wooden', 'colorful'], size: 's', kind: 'toy', play: ['spin it on the floor', 'spun it on the floor'], duo: ['take turns spinning it', 'took turns spinning it'], where: 'in' },
  { n: 'rubber duck', adjs: ['yellow', 'little'], size: 's', kind: 'toy', play: ['play with it in the bath', 'played with it in the bath'], where: 'in' },
  { n: 'toy plane', adjs: ['silver', 'little', 'red', 'white'], size: 's', kind: 'toy', play: ['zoom it through the air', 'zoomed it through the air'], duo: ['take turns flying it', 'took turns flying it'] },
  { n: 'toy truck', adjs: ['big', 'yellow', 'red'], size: 'm', kind: 'toy', play: ['fill it with dirt and push it around', 'filled it with dirt and pushed it around'], duo: ['take turns pushing it', 'took turns pushing it'], where: 'out' },
  { n: 'sock puppet', adjs: ['funny', 'little', 'striped'], size: 's', kind: 'toy', play: ['put on funny shows with it', 'put on a funny show with it'], duo: ['put on a puppet show together', 'put on a puppet show together'] },
  { n: 'pinwheel', adjs: ['colorful', 'bright', 'little'], size: 's', kind: 'toy', play: ['watch it spin in the wind', 'watched it spin in the wind'], where: 'out', wind: true },
  { n: 'toy horse', adjs: ['little', 'brown', 'wooden'], size: 's', kind: 'toy', play: ['make it gallop across the floor', 'made it gallop across the floor'], duo: ['take turns riding it around the room', 'took turns riding it around the room'] },
  { n: 'tea set', adjs: ['pretty', 'little', 'pink'], size: 'm', kind: 'toy', play: ['have tea parties with it', 'had a tea party with it'], duo: ['have a tea party together', 'had a tea party together'], where: 'in', lose: false },
  { n: 'coloring book', adjs: ['new', 'big'], size: 's', kind: 'toy', play: ['color pictures in it', 'colored a picture in it'], duo: ['color pictures together', 'colored pictures together'] },
  { n: 'toy rocket', adjs: ['shiny', 'silver', 'red'], size: 's', kind: 'toy', play: ['pretend to fly it to the moon', 'pretended to fly it to the moon'], duo: ['take turns flying it to the moon', 'took turns flying it to the moon'] },
  { n: 'rain boots', pl: true, adjs: ['yellow', 'red', 'green', 'shiny'], size: 'm', kind: 'wear', play: ['jump in puddles with them', 'jumped in puddles with them'], where: 'out', lose: false },
  { n: 'raincoat', adjs: ['yellow', 'red', 'bright'], size: 'm', kind: 'wear', play: ['wear it on rainy days', 'wore it to stay dry'], lose: false },
  { n: 'toy bus', adjs: ['yellow', 'big', 'little'], size: 's', kind: 'toy', play: ['drive it around the room', 'drove it around the room'], duo: ['take turns driving it', 'took turns driving it'] },
  { n: 'fire truck', adjs: ['red', 'shiny', 'big'], size: 's', kind: 'toy', play: ['race it to pretend fires', 'raced it to pretend fires'], duo: ['play firefighters', 'played firefighters'] },
  { n: 'toy tractor', adjs: ['green', 'little', 'red'], size: 's', kind: 'toy', play: ['push it through the dirt', 'pushed it through the dirt'], duo: ['play farm together', 'played farm together'], where: 'out' },
  { n: 'hoop', adjs: ['pink', 'big', 'purple'], size: 'm', kind: 'toy', play: ['spin it around {his} waist', 'spun it around {his} waist'], duo: ['take turns spinning it', 'took turns spinning it'], where: 'out', rolls: true },
  { n: 'balloon', adjs: ['red', 'big', 'shiny', 'blue', 'yellow'], size: 'm', kind: 'toy', play: ['hold it by its string', 'held it by its string'], where: 'out', wind: true, windFrom: 'right out of {his} hand' },
  { n: 'notebook', adjs: ['little', 'blue', 'new'], size: 's', kind: 'thing', play: ['draw in it', 'drew in it'] },
  { n: 'toy camera', adjs: ['little', 'red', 'silver'], size: 's', kind: 'toy', play: ['take pretend pictures with it', 'took pretend pictures with it'], duo: ['take turns taking pictures', 'took turns taking pictures'] },
  { n: 'toy elephant', adjs: ['gray', 'soft', 'little'], size: 's', kind: 'toy', play: ['hug it tight', 'hugged it tight'] },
  { n: 'puzzle', adjs: ['big', 'new'], size: 'm', kind: 'toy', play: ['put it together', 'put it together'], duo: ['put it together', 'put it together'], where: 'in', lose: false },
  { n: 'watering can', adjs: ['little', 'green', 'red'], size: 'm', kind: 'thing', play: ['water the flowers with it', 'watered the flowers with it'], where: 'out' },
  { n: 'fishing pole', adjs: ['little', 'new'], size: 'm', kind: 'thing', play: ['fish with it', 'fished with it for a while'], duo: ['take turns fishing', 'took turns fishing'], where: 'water' },
  { n: 'butterfly net', adjs: ['little', 'green'], size: 'm', kind: 'toy', play: ['chase butterflies with it', 'chased butterflies with it'], duo: ['take turns chasing butterflies', 'took turns chasing butterflies'], where: 'out' },
  { n: 'toy bunny', adjs: ['soft', 'gray', 'little'], size: 's', kind: 'toy', play: ['take it everywhere', 'held it close'] },
  { n: 'yarn ball', adjs: ['red', 'soft', 'blue'], size: 's', kind: 'toy', play: ['roll it across the floor', 'rolled it across the floor'], rolls: true },
  { n: 'toy trumpet', adjs: ['shiny', 'little', 'gold'], size: 's', kind: 'toy', play: ['toot it loudly', 'tooted it loudly'], duo: ['take turns tooting it', 'took turns tooting it'] },
  { n: 'sun hat', adjs: ['big', 'floppy', 'pink', 'white'], size: 's', kind: 'wear', play: ['wear it on sunny days', 'wore it on {his} head'], where: 'out', wind: true, windFrom: 'right off {his} head' },
  { n: 'jacket', adjs: ['warm', 'blue', 'red', 'green'], size: 'm', kind: 'wear', play: ['wear it on cold days', 'wore it to keep warm'] },
  { n: 'toy sailboat', adjs: ['little', 'white', 'blue'], size: 's', kind: 'toy', play: ['sail it on the water', 'sailed it on the water'], duo: ['take turns sailing it', 'took turns sailing it'], where: 'water' },
];

/** One object in a story, with the words that agree with it. */
export class Thing {
  readonly full: string;
  constructor(readonly o: Obj, readonly adj: string) {
    this.full = adj ? `${adj} ${o.n}` : o.n;
  }
  get n(): string {
    return this.o.n;
  }
  get pl(): boolean {
    return !!this.o.pl;
  }
  /** "a red ball", "red crayons". */
  get a(): string {
    return this.pl ? this.full : a(this.full);
  }
  get it(): string {
    return this.pl ? 'them' : 'it';
  }
  get they(): string {
    return this.pl ? 'they' : 'it';
  }
  get They(): string {
    return cap(this.they);
  }
  get was(): string {
    return this.pl ? 'were' : 'was';
  }
  get is(): string {
    return this.pl ? 'are' : 'is';
  }
  get that(): string {
    return this.pl ? 'those' : 'that';
  }
  get this(): string {
    return this.pl ? 'these' : 'this';
  }
  /** "it is" / "they are" for contractions in speech: "There it is!" */
  get itIs(): string {
    return this.pl ? 'they are' : 'it is';
  }
  get color(): string | null {
    return COLORS.includes(this.adj) ? this.adj : null;
  }
}

/** Whether the object can be used at the place. */
function objFits(o: Obj, p: Place): boolean {
  const w = o.where;
  if (!w) return true;
  if (w === 'in') return p.tags.has('in');
  if (w === 'out') return p.tags.has('out');
  if (w === 'open') return p.tags.has('open');
  return p.tags.has(w);
}

// ---------------------------------------------------------------------------------------------
// The story being told

type Role = 'mom' | 'dad' | 'grandma' | 'grandpa';
const ROLE_FEMALE: Record<Role, boolean> = { mom: true, dad: false, grandma: true, grandpa: false };
const ROLE_NAME: Record<Role, string> = { mom: 'Mom', dad: 'Dad', grandma: 'Grandma', grandpa: 'Grandpa' };

export interface CastMember {
  readonly name: string;
  readonly female: boolean;
  readonly kind: string;
}

class Tale {
  readonly cast: Char[] = [];
  private readonly names = new Set<string>();
  hero!: Char;
  /** The opening already said "One day". */
  private dayStarted = false;
  private readonly family = new Map<Role, Char>();

  constructor(readonly d: Dice) {}

  pick<T>(items: readonly T[]): T {
    return this.d.pick(items);
  }
  chance(p: number): boolean {
    return this.d.chance(p);
  }
  /** Calls one of the alternatives. */
  one(...alts: (() => string)[]): string {
    return this.d.pick(alts)();
  }
  /** The alternative with probability p, else nothing. */
  opt(p: number, f: () => string): string {
    return this.d.chance(p) ? f() : '';
  }

  private freshName(pool: readonly string[]): string {
    const free = pool.filter((n) => !this.names.has(n));
    const name = this.d.pick(free.length > 0 ? free : pool);
    this.names.add(name);
    return name;
  }

  add(c: Char): Char {
    this.cast.push(c);
    return c;
  }

  kid(female: boolean = this.chance(0.5)): Char {
    const name = this.freshName(female ? GIRLS : BOYS);
    return this.add(new Char(name, name, female, female ? 'girl' : 'boy'));
  }

  /** A named animal character. */
  beast(sp: Species, female: boolean = this.chance(0.5)): Char {
    const name = this.freshName(PET_NAMES);
    return this.add(new Char(name, name, female, sp.n, sp));
  }

  /** An animal without a name, referred to as "the duck" but with pronouns. */
  critter(sp: Species, female: boolean, ref: string): Char {
    return this.add(new Char(ref, ref, female, sp.n, sp));
  }

  /** The hero's mom, dad, grandma or grandpa (the same one each time it is asked for). */
  kin(role: Role): Char {
    let c = this.family.get(role);
    if (!c) {
      c = this.add(new Char(ROLE_NAME[role], `${this.hero.his} ${role}`, ROLE_FEMALE[role], role));
      this.family.set(role, c);
    }
    return c;
  }

  parent(): Char {
    return this.kin(this.d.weighted<Role>([['mom', 4], ['dad', 3], ['grandma', 1], ['grandpa', 1]]));
  }

  /** A grown-up outside the family: the neighbor, the teacher, the doctor. */
  grownup(kind: string, female: boolean, ref: string): Char {
    return this.add(new Char(ref, ref, female, kind));
  }

  /** "One day," the first time; a later time of day when the opening already said it. */
  oneDay(weather: 'any' | 'warm' | 'cold' = 'any'): string {
    if (this.dayStarted) return this.pick(['That morning,', 'Later that day,', 'After breakfast,', 'That afternoon,', 'After lunch,']);
    this.dayStarted = true;
    const warm = ['One sunny morning,', 'One warm day,', 'One bright morning,', 'One summer day,'];
    const cold = ['One cold morning,', 'One winter day,', 'One snowy morning,'];
    const any = ['One day,', 'One day,', 'One day,', 'One day,', 'One morning,', 'One afternoon,', 'One Saturday,'];
    return this.pick(weather === 'warm' ? [...any, ...warm] : weather === 'cold' ? [...cold, 'One day,'] : any);
  }

  markDayStarted(): void {
    this.dayStarted = true;
  }
  get dayWasStarted(): boolean {
    return this.dayStarted;
  }

  /**
   * A line of speech with its tag: `"Let's go!" said Tom.`, `"I am sad," Mia said.`,
   * `Mia said, "I am sad."`, `"Oh no!" cried Mia. "Where is it?"`. `pronoun` tags it
   * with he/she instead of the name.
   */
  say(c: Char, line: string, verb?: string, pronoun = false): string {
    const parts = line.split(/(?<=[.!?]) (?=[A-Z])/);
    const r = this.d.float();
    const split = parts.length > 1 && r < 0.3;
    // The verb goes with the words next to the tag: the first sentence when the line is split.
    const near = split ? parts[0]! : line;
    const last = near.charAt(near.length - 1);
    const calm = ['mom', 'dad', 'grandma', 'grandpa', 'neighbor', 'teacher', 'doctor'].includes(c.kind);
    let v = verb ?? (last === '?' ? 'asked' : last === '!' && !calm ? this.pick(['said', 'said', 'said', 'shouted', 'cried']) : 'said');
    if (v === 'asked' && last !== '?') v = 'said';
    const who = pronoun ? c.he : c.ref;
    const soft = (s: string) => (s.endsWith('.') ? `${s.slice(0, -1)},` : s);
    const tag = pronoun || c.ref.startsWith('the ') || this.chance(0.45) ? `${who} ${v}` : `${v} ${who}`;
    if (split) return `"${soft(parts[0]!)}" ${tag}. "${parts.slice(1).join(' ')}"`;
    if (r < 0.75) return `"${soft(line)}" ${tag}.`;
    return `${cap(who)} ${v}, "${line}"`;
  }

  /** Speech tagged with a pronoun. */
  sayP(c: Char, line: string, verb?: string): string {
    return this.say(c, line, verb, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Openings

function heroIntro(t: Tale, adj?: string): string {
  const h = t.hero;
  if (h.animal) {
    const sp = h.animal;
    const r = t.d.float();
    let words: string;
    if (adj) words = adj === 'little' ? 'little' : `${adj} little`;
    else if (r < 0.35) words = `little ${t.pick(sp.colors)}`;
    else if (r < 0.7) words = `${t.pick(sp.looks)} little`;
    else words = t.pick([...sp.looks, 'little']);
    words = words.replace(/^(little|big|tiny|young) little$/, '$1');
    const noun = t.chance(0.25) && sp.young !== sp.n ? sp.young : sp.n;
    return `${a(`${words} ${noun}`)} named ${h.name}`;
  }
  const word = adj ?? t.pick(KID_ADJS);
  const words = word === 'little' || t.chance(0.5) ? word : `${word} little`;
  return `${a(`${words} ${h.kind}`)} named ${h.name}`;
}

function homeOf(t: Tale): string {
  const h = t.hero;
  return h.animal ? t.pick(h.animal.homes) : t.pick(HUMAN_HOMES);
}

function likeLine(t: Tale): string {
  const h = t.hero;
  const like = fill(t.pick(h.animal ? h.animal.likes : HUMAN_LIKES), h);
  return t.one(
    () => `${h.He} loved to ${like}.`,
    () => `${h.He} liked to ${like} more than anything.`,
    () => `More than anything, ${h.he} loved to ${like}.`,
    () => (h.animal ? `${h.He} loved to ${like}.` : `${h.He} was ${t.pick(['three', 'four', 'five', 'six'])} years old, and ${h.he} loved to ${like}.`),
    () => `Every day, ${h.he} liked to ${like}.`,
  );
}

/** The first sentence or two: who the hero is. `adj` fixes the hero's trait word. */
function opening(t: Tale, o: { adj?: string; likes?: number; oneDay?: boolean } = {}): string[] {
  const h = t.hero;
  const intro = heroIntro(t, o.adj);
  const home = homeOf(t);
  const out: string[] = [];
  const ins = (h.animal ? h.animal.homes : HUMAN_HOMES).filter((x) => x.startsWith('in '));
  const kind = t.d.weighted<string>([
    ['once', 26], ['onceLived', 20], ['onceIn', ins.length > 0 ? 12 : 0], ['onceLives', 12],
    ['thereWas', 10], ['nameWas', 10], ['oneDay', o.oneDay === false ? 0 : 10],
  ]);
  switch (kind) {
    case 'once':
      out.push(`Once upon a time, there was ${intro}.`);
      break;
    case 'onceLived':
      out.push(`Once upon a time, there was ${intro} who lived ${home}.`);
      break;
    case 'onceIn': {
      out.push(`Once upon a time, ${t.pick(ins)}, there lived ${intro}.`);
      break;
    }
    case 'onceLives':
      out.push(`Once upon a time, ${intro} lived ${home}.`);
      break;
    case 'thereWas':
      out.push(t.chance(0.6) ? `There was once ${intro} who lived ${home}.` : `There once was ${intro}.`);
      break;
    case 'nameWas': {
      const noun = h.animal ? h.animal.n : h.kind;
      const word = o.adj ?? t.pick(KID_ADJS);
      const words = word === 'little' ? 'little' : `${word} little`;
      out.push(`${h.name} was ${a(`${words} ${noun}`)} who lived ${home}.`);
      break;
    }
    default: {
      t.markDayStarted();
      const doing = h.animal
        ? ['woke up early', 'was sitting in the sun', 'woke up feeling happy', 'was playing near home']
        : ['woke up early', 'woke up with a big smile', 'was sitting by the window', 'woke up feeling happy', 'jumped out of bed'];
      out.push(`${t.pick(['One day,', 'One morning,', 'One bright morning,'])} ${intro} ${t.pick(doing)}.`);
    }
  }
  if (t.chance(o.likes ?? 0.45)) out.push(likeLine(t));
  return out;
}

function outdoorWeather(t: Tale, p: Place): string {
  if (p.tags.has('snow')) return t.pick(['Everything was covered in soft white snow.', 'The snow was deep and white, and the air was cold.', 'Snow sparkled in the sun.']);
  if (p.key === 'beach' || p.key === 'island') return t.pick(['The sun was warm, and the waves went splash, splash on the sand.', 'The sky was blue, and the sand was warm.', 'It was a hot and sunny day.']);
  return t.pick([
    'The sun was shining, and the sky was blue.', 'It was a warm and sunny day.', 'The birds were singing in the trees.',
    'A soft wind was blowing.', 'There were fluffy white clouds in the sky.', 'The sun was bright and warm.',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Slot pickers

function pickThing(t: Tale, ok: (o: Obj) => boolean): Thing {
  const o = t.pick(OBJECTS.filter(ok));
  return new Thing(o, t.chance(0.85) ? t.pick(o.adjs) : '');
}

function pickPlace(t: Tale, ok: (p: Place) => boolean): Place {
  const sp = t.hero.animal;
  let ps = PLACES.filter((p) => ok(p) && (!!sp || !p.tags.has('beasts')));
  if (sp) {
    const own = ps.filter((p) => sp.places.includes(p.key));
    if (own.length > 0) ps = own;
  }
  return placeFor(t.pick(ps), t.hero);
}

/** A friend of the hero's own sort: a child for a child, another animal for an animal. */
function friendOf(t: Tale): Char {
  const sp = t.hero.animal;
  if (!sp) return t.kid();
  const others = SPECIES.filter((s) => s !== sp && s.places.some((k) => sp.places.includes(k)));
  return t.beast(t.pick(others.length > 0 ? others : SPECIES.filter((s) => s !== sp)));
}

/** First mention of a friend: "her friend Ben", "his friend Pip the squirrel". */
function friendNP(t: Tale, f: Char): string {
  return f.animal ? `${t.hero.his} friend ${f.name} the ${f.kind}` : `${t.hero.his} friend ${f.name}`;
}

function act(t: Tale, p: Place, avoid: readonly Act[] = []): Act {
  const free = p.acts.filter((x) => !avoid.includes(x));
  return t.pick(free.length > 0 ? free : p.acts);
}

function spotsFor(p: Place, o: Thing): string[] {
  return p.spots.filter((s) => o.o.size === 's' || !s.startsWith('s:')).map((s) => s.replace(/^s:/, ''));
}

function weatherWord(p: Place): 'warm' | 'cold' | 'any' {
  return p.tags.has('snow') ? 'cold' : p.tags.has('out') ? 'warm' : 'any';
}

// ---------------------------------------------------------------------------------------------
// Schema: a lost thing is found

function lostFound(t: Tale): string[] {
  const h = t.hero;
  const animal = !!h.animal;
  let o: Thing;
  let ps: Place[];
  for (let tries = 0; ; tries++) {
    if (tries > 1000) throw new Error('lostFound: no object fits');
    o = pickThing(t, (x) => x.lose !== false && x.size !== 'l' && (!animal || x.kind === 'toy'));
    const thing = o;
    ps = PLACES.filter((p) => objFits(thing.o, p) && (thing.o.wind ? p.high.length > 0 : spotsFor(p, thing).length >= 3));
    if (animal) ps = ps.filter((p) => h.animal!.places.includes(p.key));
    if (ps.length > 0) break;
  }
  const p = placeFor(t.pick(ps), h);
  const wind = !!o.o.wind && t.chance(0.8);
  const [found, ...decoys] = t.d.shuffle(spotsFor(p, o));
  const helper = t.d.weighted<string>([['friend', 4], ['parent', animal ? 2 : 3], ['pet', animal || wind ? 0 : 2], ['self', wind ? 0 : 1.5]]);
  const f = helper === 'friend' ? friendOf(t) : null;
  const along = f !== null && t.chance(0.5);
  const pet = helper === 'pet' ? t.beast(speciesByName('dog')) : null;
  const par = helper === 'parent' ? t.parent() : null;
  const a1 = act(t, p);
  const S: string[] = opening(t);

  S.push(t.one(
    () => `${h.He} had ${o.a} that ${h.he} loved very much.`,
    () => `${h.Ref} loved ${h.his} ${o.full} more than anything.`,
    () => (o.pl ? `${h.His} favorite toys were ${h.his} ${o.full}.` : `${h.His} favorite ${o.o.kind === 'toy' ? 'toy' : 'thing'} was ${o.a}.`),
    () => `${h.His} grandma had given ${h.him} ${o.a}, and ${h.he} took ${o.it} everywhere.`,
  ));
  const timed = /days|night|snow|every day|school/.test(o.o.play[0]);
  const habit = t.opt(0.5, () => t.one(
    () => `${h.He} liked to ${fill(o.o.play[0], h)}.`,
    () => (timed ? `${h.He} loved to ${fill(o.o.play[0], h)}.` : `Every day, ${h.he} would ${fill(o.o.play[0], h)}.`),
  ));
  S.push(habit);

  const day = t.oneDay(weatherWord(p));
  const comp = along ? ` with ${friendNP(t, f!)}` : pet ? ` with ${h.his} dog, ${pet.name}` : '';
  if (p.tags.has('home')) {
    S.push(`${day} ${h.he} was playing with ${h.his} ${o.n} ${p.at}${comp}.`);
  } else {
    S.push(t.one(
      () => `${day} ${h.he} took ${h.his} ${o.n} ${p.to}${comp}.`,
      () => `${day} ${h.he} went ${p.to}${comp}, and ${h.he} brought ${h.his} ${o.n} along.`,
    ));
  }
  if (p.tags.has('out')) S.push(t.opt(0.45, () => outdoorWeather(t, p)));
  if (!habit) S.push(`${h.He} ${fill(o.o.play[1], h)}.`);
  if (along) S.push(t.opt(0.6, () => `Then ${h.ref} and ${f!.ref} ${a1[1]}.`));

  // The thing is lost.
  if (wind) {
    S.push(`Suddenly, a big gust of wind blew ${h.his} ${o.n} ${fill(o.o.windFrom ?? 'right out of {his} hands', h)}!`);
    S.push(t.pick([`${o.They} flew up, up, and away.`, `${o.They} flew higher and higher, and then ${o.they} ${o.was} gone.`]));
  } else if (o.o.rolls && t.chance(0.5)) {
    S.push(`Then ${h.his} ${o.n} rolled away, and ${h.he} could not see where ${o.they} went.`);
  } else {
    S.push(t.one(
      () => `After a while, ${h.he} put ${h.his} ${o.n} down to ${a1[0]}. When ${h.he} came back, ${o.they} ${o.was} gone!`,
      () => (p.tags.has('home')
        ? `${h.He} played for a long time. Later, when ${h.he} wanted to play with ${o.it} again, ${o.they} ${o.was} not there!`
        : `${h.He} played for a long time. When it was time to go, ${h.he} looked for ${h.his} ${o.n}, but ${o.they} ${o.was} not there!`),
      () => `${h.He} put ${h.his} ${o.n} down for just a moment. When ${h.he} turned around, ${o.they} ${o.was} gone!`,
    ));
  }
  S.push(t.one(
    () => t.say(h, `Oh no! Where ${o.is} my ${o.n}?`, 'cried'),
    () => `${h.Ref} looked all around, but ${h.he} could not find ${o.it}.`,
  ));
  S.push(t.opt(0.6, () => t.pick([
    `${h.He} felt very sad.`, `Tears filled ${h.his} eyes.`, `${h.His} lip began to shake.`, `${h.He} sat down and felt like crying.`,
  ])));
  if (wind) {
    S.push(t.opt(0.5, () => `${h.He} ran after ${o.it}, but the wind was too fast.`));
  } else if (decoys.length >= 2 && helper !== 'parent') {
    S.push(t.one(
      () => `${h.He} looked ${decoys[0]}. ${o.They} ${o.was} not there. ${h.He} looked ${decoys[1]}, but ${o.they} ${o.was} not there either.`,
      () => `${h.He} looked ${decoys[0]} and ${decoys[1]}, but ${h.he} did not find ${o.it}.`,
      () => '',
    ));
  }

  // Someone helps, and the thing is found.
  let thanks: Char | null = null;
  if (f) {
    thanks = f;
    if (!along) {
      S.push(`Just then, ${friendNP(t, f)} ${t.pick(['came by', 'walked over', 'came over to play'])}.`);
      S.push(t.say(f, t.pick(['Why are you sad?', 'What is wrong?', `What happened, ${h.name}?`])));
      S.push(t.say(h, t.pick([`I lost my ${o.n}.`, `I can't find my ${o.n}.`, `My ${o.n} ${o.is} gone!`])));
    } else {
      S.push(`${f.Ref} saw that ${h.ref} was sad.`);
    }
    S.push(t.say(f, t.pick(["Don't worry. I will help you look.", "Let's look together!", `I will help you find ${o.it}.`])));
    if (wind) {
      S.push(`Then ${f.ref} pointed up. There ${o.was} the ${o.n}, ${t.pick(p.high)}!`);
      const sk = f.animal?.skill;
      S.push(sk === 'fly' ? `${f.Ref} flew up and gently pulled ${o.it} free.`
        : sk === 'climb' ? `${f.Ref} climbed up and brought ${o.it} down.`
          : `${f.Ref} found a long stick and gently pulled ${o.it} down.`);
    } else {
      S.push(t.pick(['They looked everywhere.', 'They looked high and low.', 'They searched and searched.']));
      S.push(`Then ${f.ref} saw something ${o.color ?? ''}${o.color ? ' ' : ''}${found}.`.replace('something  ', 'something '));
      S.push(t.say(f, `Look! ${o.pl ? 'Are those' : 'Is that'} your ${o.n}?`));
      S.push(`${o.They} ${o.was}!`);
    }
  } else if (par) {
    thanks = par;
    S.push(t.pick([`${h.Ref} ran to ${par.ref}.`, `${h.Ref} went to find ${par.ref}.`]));
    S.push(t.say(h, `${par.name}, I lost my ${o.n}!`));
    S.push(t.say(par, t.pick(["Let's look together.", `Don't worry. We will find ${o.it}.`, "Let's look for it together."]).replace('look for it', o.pl ? 'look for them' : 'look for it')));
    if (wind) {
      S.push(`${par.Ref} looked up and pointed. There ${o.was} the ${o.n}, ${t.pick(p.high)}!`);
      S.push(`${par.Ref} found a long stick and reached up high. Soon the ${o.n} ${o.was} back in ${poss(h.ref)} hands.`);
    } else {
      if (decoys.length > 0) S.push(`They looked ${decoys[0]}, but ${o.they} ${o.was} not there.`);
      S.push(`Then ${par.ref} looked ${found}. There ${o.was} ${h.his} ${o.n}!`);
    }
  } else if (pet) {
    thanks = pet;
    S.push(t.pick([`Then ${pet.name} began to sniff the ground.`, `${pet.name} put ${pet.his} nose to the ground and sniffed.`]));
    S.push(`${pet.He} sniffed and sniffed. Then ${pet.he} ran off and stopped ${found}.`);
    S.push(`"Woof! Woof!" barked ${pet.name}.`);
    S.push(`${h.Ref} ran over to look. There ${o.was} ${h.his} ${o.n}!`);
  } else {
    S.push(t.one(
      () => `${h.Ref} took a deep breath. ${t.sayP(h, 'I will look one more time, slowly and carefully.')}`,
      () => `Then ${h.ref} stopped and thought hard. ${h.He} had an idea. ${h.He} would look again, slowly and carefully.`,
    ));
    S.push(`${h.He} looked ${found}. And there ${o.was} ${h.his} ${o.n}!`);
  }

  S.push(`${h.Ref} ${!o.pl && o.o.kind === 'toy' && t.chance(0.5) ? 'hugged' : 'held'} ${h.his} ${o.n} tight.`);
  if (thanks && t.chance(0.7)) S.push(t.say(h, t.pick([`Thank you, ${thanks.name}!`, `Thank you so much, ${thanks.name}!`, `You found ${o.it}! Thank you, ${thanks.name}!`])));
  if (pet) S.push(t.opt(0.6, () => `${pet.name} ${fill(pet.animal!.happy, pet)}.`));
  S.push(t.opt(0.6, () => t.pick([`${h.He} was so happy to have ${h.his} ${o.n} back.`, `${h.He} was so happy.`, `${h.His} sad face turned into a big smile.`])));

  S.push(t.one(
    () => `From that day on, ${h.ref} always kept ${h.his} ${o.n} close.`,
    () => `After that, ${h.ref} was always careful with ${h.his} ${o.n}.`,
    () => `That night, ${h.ref} went to sleep with ${h.his} ${o.n} right next to ${h.him}.`,
    () => (f ? `Then ${h.ref} and ${f.ref} ${o.o.duo && objFits(o.o, p) ? o.o.duo[1].replace(/\b(it|them)\b/, `the ${o.n}`).replace(/ together$/, '') : a1[1]} until it was time to go home.`
      : p.tags.has('home') ? `${h.Ref} smiled all day long.` : `${h.Ref} went home with a big smile.`),
  ));
  S.push(t.opt(0.45, () => (f && t.chance(0.5)
    ? `${h.Ref} learned that a good friend is always ready to help.`
    : helper === 'self'
      ? `${h.Ref} learned that when you stay calm and look carefully, you can often find what you lost.`
      : `${h.Ref} learned to take good care of the things ${h.he} loved.`)));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: making a new friend

const KID_LOOKS = ['curly hair', 'a red cap', 'a big smile', 'a striped shirt', 'muddy boots', 'round glasses', 'a yellow raincoat', 'freckles'];
const SNACKS = ['some apple slices', 'a bag of crackers', 'two big cookies', 'a juicy orange', 'some grapes', 'a banana'];

function newFriend(t: Tale): string[] {
  const h = t.hero;
  const animal = !!h.animal;
  const p = pickPlace(t, (x) => x.tags.has('play') || x.tags.has('wild'));
  const why = t.pick(['shy', 'new', 'alone']);
  const S: string[] = opening(t, { adj: why === 'shy' ? t.pick(['shy', 'quiet']) : undefined, likes: 0.3 });
  const guide = animal ? t.kin('mom') : t.parent();
  const f = friendOf(t);
  const name = f.name;

  if (why === 'shy') {
    S.push(t.one(
      () => `${h.He} wanted a friend, but ${h.he} did not know how to make one.`,
      () => `${h.He} did not have any friends, and sometimes ${h.he} felt lonely.`,
      () => `${h.He} wanted to play with the other ${h.animal ? plural(h.animal.n) : 'children'}, but ${h.he} was too shy to say hello.`,
    ));
  } else if (why === 'new') {
    S.push(`${h.Ref} and ${h.his} family had just moved to a new ${animal ? 'home' : t.pick(['town', 'house', 'street'])}. ${h.He} did not know anyone there, and ${h.he} felt lonely.`);
  } else {
    S.push(animal ? `${h.Ref} liked to play, but ${h.he} had no one to play with.` : `${h.Ref} had lots of toys, but ${h.he} had no one to play with.`);
  }
  S.push(t.one(
    () => `${t.oneDay(weatherWord(p))} ${guide.ref} took ${h.him} ${p.to}.`,
    () => `${t.oneDay(weatherWord(p))} ${h.he} went ${p.to} with ${guide.ref}.`,
  ));
  if (p.tags.has('out')) S.push(t.opt(0.35, () => outdoorWeather(t, p)));
  S.push(t.opt(0.7, () => `${cap(p.at)}, ${h.he} saw ${t.d.some(p.sights, 2).join(' and ')}.`));

  const looks = t.pick(KID_LOOKS);
  const toy = pickThing(t, (o) => o.kind === 'toy' && objFits(o, p));
  const doing = t.pick([
    `sitting all alone`,
    animal ? `sitting by ${f.himself} under a tree` : `playing with ${toy.a} all by ${f.himself}`,
    `standing by ${f.himself} and watching the others`,
  ]);
  if (animal) {
    f.ref = `the ${f.kind}`;
    S.push(`There was ${a(`little ${t.pick(f.animal!.colors)} ${f.kind}`)} ${doing}.`);
  } else {
    f.ref = `the ${f.kind}`;
    S.push(`There was ${a(f.kind)} with ${looks} ${doing}.`);
  }
  if (why === 'shy' || t.chance(0.4)) {
    S.push(`${h.Ref} wanted to say hello, but ${h.his} tummy felt funny.`);
    S.push(`${guide.Ref} smiled and said, "${t.pick(['Go on. Just say hello.', 'You can do it. Just say hi.', 'Maybe that little one wants a friend too.'])}"`);
  }
  S.push(t.pick([`${h.Ref} took a deep breath and walked over.`, `${h.Ref} walked over slowly.`, `So ${h.ref} walked over and smiled.`]));
  const asksName = t.chance(0.35);
  S.push(t.sayP(h, asksName
    ? t.pick([`Hi! I am ${h.name}. What is your name?`, `Hello! My name is ${h.name}. What is your name?`])
    : t.pick([`Hi! My name is ${h.name}. Do you want to play with me?`, `Hello, I am ${h.name}. Can I play with you?`])));
  S.push(`${f.Ref} looked up and smiled.`);
  S.push(t.say(f, asksName
    ? t.pick([`My name is ${name}. Do you want to play?`, `I am ${name}. Let's be friends!`, `My name is ${name}. Do you want to play with me?`])
    : t.pick([`Yes, please! My name is ${name}.`, `My name is ${name}. I would love to play!`, `I am ${name}. Let's be friends!`])));
  f.ref = name;

  const a1 = act(t, p);
  const a2 = act(t, p, [a1]);
  S.push(t.one(
    () => `${h.Ref} and ${f.ref} ${a1[1]}. Then they ${a2[1]}.`,
    () => `First, they ${a1[1]}. After that, they ${a2[1]}.`,
    () => `Together, they ${a1[1]} and ${a2[1]}.`,
  ));
  S.push(t.opt(0.5, () => t.pick(['They laughed and laughed.', 'They had so much fun.', 'They giggled until their tummies hurt.'])));
  S.push(t.opt(0.4, () => `Later, they sat down and shared ${t.pick(SNACKS)}.`));
  S.push(t.pick(['When the sun began to go down, it was time to go home.', 'Soon it was time to go home.', 'All too soon, it was time to say goodbye.']));
  S.push(t.say(f, t.pick(['Will you come back tomorrow?', 'Can we play again tomorrow?', 'Will you be my friend?'])));
  S.push(t.say(h, t.pick(['Yes! I will!', 'Yes, of course!', 'I would like that very much.'])));
  S.push(t.one(
    () => `From that day on, ${h.ref} and ${f.ref} were best friends.`,
    () => `${h.Ref} went home with a big smile. ${h.He} had a new friend!`,
    () => `After that, ${h.ref} and ${f.ref} played together every day, and ${h.ref} was never lonely again.`,
  ));
  S.push(t.opt(0.5, () => t.pick([
    `${h.Ref} learned that a new friend can be just one hello away.`,
    `${h.Ref} learned that it is worth being brave and saying hello.`,
    `${h.Ref} learned that being kind is the best way to make a friend.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: learning to share

function sharing(t: Tale): string[] {
  const h = t.hero;
  const animal = !!h.animal;
  let o: Thing;
  let ps: Place[];
  for (let tries = 0; ; tries++) {
    if (tries > 1000) throw new Error('sharing: no object fits');
    o = pickThing(t, (x) => !!x.duo && x.kind === 'toy' && (!animal || x.size !== 'l'));
    const thing = o;
    ps = PLACES.filter((p) => (p.tags.has('play') || (animal && p.tags.has('wild'))) && p.key !== 'school' && p.key !== 'library' && objFits(thing.o, p));
    if (animal) ps = ps.filter((p) => h.animal!.places.includes(p.key));
    if (ps.length > 0) break;
  }
  const p = placeFor(t.pick(ps), h);
  const sibling = !animal && t.chance(0.4);
  const f = sibling ? t.kid() : friendOf(t);
  const S: string[] = opening(t);
  const giver = t.pick(['grandma', 'grandpa', 'aunt', 'uncle', 'mom', 'dad']);
  S.push(t.one(
    () => `For ${h.his} birthday, ${h.his} ${giver} gave ${h.him} ${o.a}.`,
    () => `${h.His} ${giver} gave ${h.him} ${o.a} as a present.`,
    () => `${h.He} had ${o.a} that ${o.was} brand new.`,
  ));
  S.push(t.pick([`${h.Ref} loved ${h.his} new ${o.n}.`, `${h.Ref} thought ${o.they} ${o.was} the best thing in the whole world.`]));
  S.push(t.opt(0.6, () => `${h.He} ${fill(o.o.play[1], h)} all day long.`));
  if (sibling) S.push(`${h.Ref} had a little ${f.female ? 'sister' : 'brother'} named ${f.name}.`);
  S.push(t.one(
    () => `${t.oneDay(weatherWord(p))} ${h.ref} was playing with ${h.his} ${o.n} ${p.at}.`,
    () => `The next day, ${h.ref} took ${h.his} ${o.n} ${p.to}.`,
  ));
  S.push(sibling ? `${f.Ref} came over and looked at the ${o.n} with big eyes.` : `${t.pick(['Soon', 'Then'])} ${friendNP(t, f)} came over and saw the ${o.n}.`);
  S.push(t.say(f, t.pick([`Wow! Can I play with ${o.it} too?`, `Can I have a turn, please?`, `That looks like fun! Can I try?`])));
  S.push(t.pick([`${h.Ref} held ${h.his} ${o.n} tight.`, `${h.Ref} shook ${h.his} head.`]));
  S.push(t.sayP(h, t.pick([`No! ${o.They} ${o.is} mine!`, `No, ${o.they} ${o.is} all mine!`, `No! I want to play with ${o.it} by myself.`])));
  S.push(`${f.Ref} looked very sad. ${f.He} ${t.pick(['walked away and sat down all alone', 'looked down at the ground', `sat down by ${f.himself}`])}.`);
  S.push(t.one(
    () => `${h.Ref} played with ${h.his} ${o.n} by ${h.himself}. But it was not much fun.`,
    () => `${h.Ref} tried to play, but ${h.he} did not feel happy anymore.`,
    () => `${h.Ref} kept playing, but something did not feel right.`,
  ));
  if (t.chance(0.5)) {
    const par = t.parent();
    S.push(`${par.Ref} ${t.pick(['saw what happened', 'came over'])} and sat down next to ${h.ref}.`);
    S.push(t.say(par, `How do you think ${f.name} feels?`, 'asked'));
    S.push(`${h.Ref} looked at ${f.ref}. ${h.He} remembered how sad ${h.he} felt when no one would play with ${h.him}.`);
  } else {
    S.push(`${h.Ref} looked at ${f.ref}, all alone. ${h.He} remembered how sad ${h.he} felt when no one would play with ${h.him}.`);
  }
  S.push(`${h.He} walked over to ${f.ref}.`);
  S.push(t.sayP(h, t.pick([`I am sorry. Do you want to play with my ${o.n} too?`, `I am sorry, ${f.name}. Let's play with ${o.it} together.`, `Here, you can have a turn.`])));
  S.push(t.pick([`${f.Ref} smiled a big smile.`, `${f.Ref} jumped up with a big smile.`, `${cap(f.refs)} face lit up.`]));
  S.push(t.opt(0.6, () => t.say(f, t.pick(['Thank you!', 'Yes, please!', `Thank you, ${h.name}!`]))));
  const duo = o.o.duo![1].replace(/\b(it|them)\b/, `the ${o.n}`);
  S.push(duo.endsWith('together') ? `Then they ${duo}.` : `Together, they ${duo}.`);
  S.push(t.pick(['It was much more fun with two.', 'They laughed and laughed.', 'Playing together was much more fun than playing alone.', `${h.Ref} was happy again.`]));
  S.push(t.opt(0.7, () => t.pick([
    `${h.Ref} learned that sharing makes playing more fun.`,
    `${h.Ref} learned that sharing is caring.`,
    `From that day on, ${h.ref} always shared ${h.his} toys.`,
    `${h.Ref} learned that when you share, everyone is happy.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: being afraid of something and being brave

function oneNight(t: Tale): string {
  return t.dayWasStarted ? 'That night,' : t.pick(['One night,', 'One night,', 'One dark night,', 'Late one night,']);
}

function fearDark(t: Tale): string[] {
  const h = t.hero;
  const par = t.parent();
  const S: string[] = [];
  if (h.animal) {
    S.push(`${h.Ref} was afraid of the dark.`);
    S.push(`When the sun went down, the ${h.animal.places.includes('pond') ? 'pond' : 'woods'} got very dark, and the shadows looked big and scary.`);
    S.push(`${oneNight(t)} ${h.ref} could not sleep at all.`);
    S.push(t.say(h, `${par.name}, I am scared of the dark!`, 'whispered'));
    S.push(`${par.Ref} came close and said, "Look up, little one."`);
    S.push(`${h.Ref} looked up. The sky was full of tiny, shining stars, and the moon was big and round.`);
    S.push(t.say(par, 'The moon and the stars are like night lights. They shine for you all night long.'));
  } else {
    S.push(t.pick([`${h.Ref} was afraid of the dark.`, `${h.Ref} was brave in the day, but at night ${h.he} was afraid of the dark.`]));
    S.push(`Every night, when ${par.ref} turned off the light, ${h.ref} pulled the blanket over ${h.his} head.`);
    const kind = t.pick(['shadow', 'bed', 'sound']);
    S.push({
      shadow: 'The shadows on the wall looked like big monsters.',
      bed: `${h.He} thought there might be a monster under the bed.`,
      sound: `Every little sound made ${h.him} jump.`,
    }[kind]!);
    S.push(`${oneNight(t)} ${h.ref} could not sleep at all.`);
    S.push(t.say(h, `${par.name}! I am scared!`, 'called'));
    S.push(`${par.Ref} came in and sat on the bed.`);
    S.push(t.say(par, 'What is wrong?', 'asked'));
    if (kind === 'shadow') {
      const thing = t.pick(['your coat on the chair', 'your teddy bear on the shelf', 'the tree outside the window', 'your robe on the door']);
      S.push(t.say(h, 'There is a monster on the wall!'));
      S.push(`${par.Ref} turned on the light. ${t.sayP(par, `Look. It is just the shadow of ${thing}.`)}`);
      S.push(`${h.Ref} looked. It was true! The scary shadow was just ${thing.replace('your', h.his)}.`);
    } else if (kind === 'bed') {
      const thing = t.pick(['an old sock', 'your slippers', 'a toy car', 'a lost crayon']);
      S.push(t.say(h, 'I think there is a monster under my bed!'));
      S.push(`${par.Ref} turned on the light and looked under the bed. ${t.sayP(par, `Look. There is nothing here but ${thing}.`)}`);
      S.push(`${h.Ref} looked. It was true! There was no monster at all.`);
    } else {
      const thing = t.pick(['a branch tapping on the window', 'the wind blowing through the trees', 'a little owl outside']);
      S.push(t.say(h, 'I hear a monster outside!'));
      S.push(`${par.Ref} opened the curtains. ${t.sayP(par, `Listen. It is just ${thing}.`)}`);
      S.push(`${h.Ref} listened. It was true! The scary sound was just ${thing}.`);
    }
    S.push(t.opt(0.7, () => `Then ${par.ref} gave ${h.him} a little night light shaped like a ${t.pick(['star', 'moon', 'fish', 'bunny'])}. ${t.sayP(par, 'This will keep you company.')}`));
  }
  S.push(`${h.Ref} ${t.pick(['took a deep breath', 'snuggled under ' + h.his + ' blanket', 'closed ' + h.his + ' eyes'])}. The dark did not look so scary anymore.`);
  S.push(t.opt(0.6, () => `Soon, ${h.he} was fast asleep, dreaming happy dreams.`));
  S.push(t.one(
    () => `From that night on, ${h.ref} was not afraid of the dark.`,
    () => `After that, the dark did not scare ${h.ref} anymore.`,
  ));
  S.push(t.opt(0.5, () => `${h.Ref} learned that things are often less scary when you look at them closely.`));
  return S;
}

function fearThunder(t: Tale): string[] {
  const h = t.hero;
  const par = h.animal ? t.kin('mom') : t.parent();
  const S: string[] = [];
  S.push(t.pick([`${h.Ref} was afraid of thunder.`, `${h.Ref} was not afraid of much, but ${h.he} was afraid of thunder.`]));
  S.push(`${oneNight(t)} a big storm came.`);
  S.push(t.pick(['The wind blew, and the rain came down hard.', 'Rain hit the windows, and the trees shook in the wind.', 'The sky was black, and the rain poured down.']));
  S.push(t.pick(['Boom! The thunder was so loud.', 'Then came a loud clap of thunder. Boom!', 'Crash! Boom! The thunder shook the sky.']));
  S.push(h.animal
    ? `${h.Ref} ran to ${par.ref} and hid close to ${par.him}.`
    : `${h.Ref} ran to ${par.ref} and hid under the blanket.`);
  S.push(t.sayP(h, t.pick(['It is so loud! I am scared!', 'Make it stop! I am scared!', 'Will the thunder get us?']), 'cried'));
  S.push(`${par.Ref} held ${h.him} close.`);
  S.push(t.say(par, t.pick([
    'Thunder is just a big noise. It cannot hurt you.',
    'Thunder is only the sky making a loud sound. We are safe and warm in here.',
    'It is just noise, little one. It is loud, but it cannot hurt you.',
  ])));
  S.push(t.one(
    () => `Then ${par.ref} had an idea. ${t.sayP(par, "Let's pretend the clouds are playing drums.")} The next time it thundered, ${h.ref} pretended to play a big drum. "Boom, boom!" ${h.he} said, and ${h.he} laughed.`,
    () => `Then ${par.ref} sang a soft song. ${h.Ref} listened to the song and the rain, and ${h.he} felt calm.`,
    () => `${par.Ref} told ${h.him} a story about a little cloud who was learning to play the drums. ${h.Ref} giggled.`,
  ));
  S.push(`Soon, the storm went away, and ${h.ref} fell asleep.`);
  S.push(t.opt(0.5, () => `In the morning, the sun was shining, and everything was fresh and wet.`));
  S.push(t.one(
    () => `After that night, thunder did not scare ${h.ref} so much anymore.`,
    () => `From then on, when ${h.ref} heard thunder, ${h.he} just smiled and said, "Boom!"`,
  ));
  S.push(t.opt(0.4, () => `${h.Ref} learned that a loud noise is not always something to be afraid of.`));
  return S;
}

function fearDog(t: Tale): string[] {
  const h = t.hero;
  const dog = t.beast(speciesByName('dog'));
  const ball = t.pick(['ball', 'red ball', 'blue ball', 'yellow ball']);
  const S: string[] = [];
  const where = h.animal ? 'on the farm' : 'next door';
  S.push(`${h.Ref} was afraid of dogs, especially the big dog ${where}.`);
  S.push(`${dog.His} name was ${dog.name}.`);
  S.push(`${dog.name} was big and had a very loud bark. Every time ${h.ref} walked by, ${dog.name} barked, "Woof! Woof!"`);
  S.push(`${h.Ref} always ran away as fast as ${h.he} could.`);
  S.push(`${t.oneDay('warm')} ${h.ref} was playing with ${h.his} ${ball}. It bounced away and rolled right up to ${dog.name}.`);
  S.push(`${dog.name} picked up the ball in ${dog.his} mouth and walked over to ${h.ref}.`);
  S.push(t.pick([`${h.Ref} froze.`, `${poss(h.Ref)} heart went thump, thump, thump.`, `${h.Ref} wanted to run, but ${h.he} stood very still.`]));
  S.push(`But ${dog.name} just dropped the ball at ${poss(h.ref)} feet and wagged ${dog.his} tail.`);
  if (!h.animal) {
    const owner = t.grownup('neighbor', t.chance(0.5), 'the neighbor');
    S.push(`${owner.Ref} came over and smiled. ${t.sayP(owner, `${dog.name} is big, but ${dog.he} is very gentle. ${dog.He} just wants to play with you.`)}`);
  } else {
    S.push(t.say(dog, `Will you play with me? Nobody ever wants to play with me.`));
  }
  S.push(`${h.Ref} took a deep breath. ${h.He} picked up the ball and threw it.`);
  S.push(`${dog.name} ran after it and brought it back. Then ${h.ref} threw it again, and again.`);
  S.push(`${h.Ref} laughed. ${dog.name} was not scary at all. ${dog.He} was just a big, friendly dog.`);
  S.push(t.one(
    () => `From that day on, ${h.ref} and ${dog.name} were good friends.`,
    () => `Now, every time ${h.ref} walked by, ${dog.name} barked hello, and ${h.ref} waved back.`,
  ));
  S.push(t.opt(0.5, () => `${h.Ref} learned that big and loud does not always mean scary.`));
  return S;
}

function fearWater(t: Tale): string[] {
  const h = t.hero;
  const p = h.animal ? pickPlace(t, (x) => x.key === 'pond' || x.key === 'lake' || x.key === 'river') : pickPlace(t, (x) => ['beach', 'lake', 'pool'].includes(x.key));
  const par = h.animal ? t.kin('mom') : t.parent();
  const S: string[] = [];
  S.push(h.animal
    ? `${h.Ref} lived near the water, but ${h.he} was afraid to go in.`
    : `${h.Ref} was afraid of the water.`);
  S.push(h.animal
    ? `All the other ${plural(h.animal.n)} swam and splashed, but ${h.ref} stayed on the shore.`
    : `${t.oneDay('warm')} ${h.his} family went ${p.to}. Everyone was splashing and swimming, but ${h.ref} stayed on the ${p.key === 'pool' ? 'side' : 'sand'}.`);
  S.push(t.sayP(h, t.pick(['The water is too deep.', 'What if I sink?', 'The water looks too big for me.'])));
  S.push(`${par.Ref} ${h.animal ? 'came close' : 'held out ' + par.his + ' hand'}. ${t.sayP(par, 'We can go in a little at a time. I will be right next to you.')}`);
  S.push(`${h.Ref} put ${h.his} toes in the water. It was cool and nice.`);
  S.push(`Then ${h.he} went in a little more, and then a little more.`);
  S.push(`${h.He} kicked ${h.his} feet and splashed.`);
  S.push(t.sayP(h, t.pick(['I am doing it!', 'Look at me!', 'This is fun!']), 'shouted'));
  S.push(t.pick([`Soon, ${h.ref} was laughing and splashing with everyone else.`, `${par.Ref} cheered, and ${h.ref} splashed even more.`]));
  S.push(t.one(
    () => `After that day, ${h.ref} loved the water.`,
    () => `Now ${h.ref} could not wait to go swimming again.`,
  ));
  S.push(t.opt(0.6, () => `${h.Ref} learned that being brave means trying, one little step at a time.`));
  return S;
}

function fearSlide(t: Tale): string[] {
  const h = t.hero;
  const p = pickPlace(t, (x) => x.key === 'playground' || x.key === 'park');
  const f = friendOf(t);
  const S: string[] = [];
  S.push(`${h.Ref} wanted to go down the big slide ${p.at}, but it was very tall.`);
  S.push(`Every time ${h.he} climbed up, ${h.he} looked down and felt scared. Then ${h.he} climbed back down.`);
  S.push(`${t.oneDay('warm')} ${friendNP(t, f)} was ${p.at} too.`);
  S.push(t.say(f, t.pick(["Let's go together! I will go right after you.", 'You can do it! I will be right behind you.'])));
  S.push(`${h.Ref} climbed to the top. ${h.His} legs were shaking.`);
  S.push(`${h.He} took a deep breath, sat down, and let go.`);
  S.push(`Whoosh! ${h.Ref} zoomed down the slide, faster and faster. ${h.He} landed at the bottom with a bump and laughed.`);
  S.push(t.sayP(h, t.pick(['Again! Again!', 'That was so much fun!', 'I did it!']), 'shouted'));
  S.push(`${f.Ref} came down right after ${h.him}, and they both giggled.`);
  S.push(`${h.Ref} and ${f.ref} went down the slide again and again until it was time to go home.`);
  S.push(t.opt(0.6, () => t.pick([
    `${h.Ref} learned that sometimes the scary things are the most fun.`,
    `${h.Ref} learned that it is easier to be brave with a friend.`,
  ])));
  return S;
}

function fearSchool(t: Tale): string[] {
  const h = t.hero;
  const par = t.parent();
  const teacher = t.grownup('teacher', t.chance(0.7), 'the teacher');
  const tname = `${teacher.female ? 'Miss' : 'Mr'} ${t.pick(SURNAMES)}`;
  const f = t.kid();
  const S: string[] = [];
  S.push(`${h.Ref} was going to start school, and ${h.he} was scared.`);
  S.push(t.say(h, t.pick(['What if no one likes me?', 'What if I do not know what to do?', 'What if I miss you too much?']), 'asked'));
  S.push(`${par.Ref} gave ${h.him} a big hug. ${t.sayP(par, 'Just be yourself, and be kind. You will have a great day.')}`);
  S.push(`On the first day, ${h.ref} held ${poss(par.ref)} hand very tight at the door.`);
  S.push(`The teacher, ${tname}, had a kind smile. ${t.sayP(teacher, `Welcome, ${h.name}! We are going to paint today.`)}`);
  teacher.ref = tname;
  S.push(`${h.Ref} sat down next to a ${f.kind} named ${f.name}, who smiled at ${h.him}.`);
  S.push(t.say(f, t.pick(['Do you want to paint with me?', 'I am new too. Do you want to sit with me?', 'I like your shoes!'])));
  S.push(t.pick([`They painted pictures and sang songs.`, `They painted a big sun and a green tree together.`, `They played with blocks and listened to a story.`]));
  S.push(t.opt(0.5, () => `At lunch, ${h.ref} and ${f.ref} sat together and shared ${t.pick(SNACKS)}.`));
  S.push(`At the end of the day, ${h.ref} ran to ${par.ref}. ${t.sayP(h, 'School is fun! Can I come back tomorrow?', 'shouted')}`);
  S.push(t.opt(0.6, () => `${par.Ref} laughed. ${t.sayP(par, 'Of course you can.')}`));
  S.push(t.opt(0.5, () => `${h.Ref} learned that new things can be scary at first, but they can also be a lot of fun.`));
  return S;
}

function fearDoctor(t: Tale): string[] {
  const h = t.hero;
  const par = t.parent();
  const doc = t.grownup('doctor', t.chance(0.5), 'the doctor');
  const S: string[] = [];
  S.push(`${t.oneDay()} ${h.ref} had to go to the doctor for a checkup, and ${h.he} was scared.`);
  S.push(t.sayP(h, t.pick(['I do not want to go!', 'What if it hurts?', 'Do I have to go?'])));
  S.push(`${par.Ref} held ${h.his} hand. ${t.sayP(par, 'The doctor is kind. I will be with you the whole time.')}`);
  S.push(`At the doctor's office, there were toys and books in the waiting room. ${h.Ref} held ${poss(par.ref)} hand tight.`);
  S.push(`${doc.Ref} had a warm smile. ${doc.He} let ${h.ref} listen to ${h.his} own heart.`);
  S.push('Thump, thump, thump!');
  S.push(t.say(doc, 'Your heart is strong and healthy.'));
  S.push(`Then ${doc.ref} looked in ${poss(h.ref)} ears and at ${h.his} tongue. It did not hurt at all.`);
  S.push(t.say(h, t.pick(['That was not scary at all!', 'That was easy!', 'That tickled!'])));
  S.push(`${doc.Ref} gave ${h.ref} a shiny sticker with a ${t.pick(['star', 'smiling sun', 'lion', 'rainbow'])} on it.`);
  S.push(t.opt(0.6, () => `${h.Ref} wore ${h.his} sticker all day long and told everyone how brave ${h.he} had been.`));
  S.push(t.opt(0.5, () => `${h.Ref} learned that doctors are there to help us stay healthy.`));
  return S;
}

function fear(t: Tale): string[] {
  const h = t.hero;
  const kinds: [(t: Tale) => string[], number][] = h.animal
    ? [[fearDark, 2], [fearThunder, 2], [fearDog, h.animal.n === 'dog' ? 0 : 2], [fearWater, ['pond', 'lake', 'river'].some((k) => h.animal!.places.includes(k)) ? 2 : 0]]
    : [[fearDark, 3], [fearThunder, 2], [fearDog, 2], [fearWater, 2], [fearSlide, 2], [fearSchool, 2], [fearDoctor, 1]];
  const which = t.d.weighted(kinds);
  const S = opening(t, { likes: 0.35, oneDay: which !== fearDark && which !== fearThunder });
  return [...S, ...which(t)];
}

// ---------------------------------------------------------------------------------------------
// Schema: a rainy day turned fun

interface Idea {
  readonly base: string;
  readonly does: (t: Tale, par: Char, p: Place) => string;
}

const RAINY_IDEAS: readonly Idea[] = [
  { base: 'build a fort', does: (t, par) => `They took blankets and pillows and built a big fort in the living room. ${t.hero.Ref} and ${par.ref} crawled inside with a flashlight and told stories.` },
  { base: 'paint pictures', does: (t, _par, p) => `They got out paper and paints. ${t.hero.Ref} painted a picture of ${p.the}, with ${t.d.some(p.sights, 2).join(' and ')}.` },
  { base: 'have a picnic inside', does: (t, _par, p) => `They spread a blanket on the living room floor and had a picnic with sandwiches and apple juice. ${t.hero.Ref} pretended they were ${p.at}.` },
  { base: 'bake cookies', does: (t) => `They baked cookies together. ${t.hero.Ref} stirred the dough and dropped in the chocolate chips. Soon the whole house smelled sweet and warm.` },
  { base: 'play hide and seek', does: (t, par) => `They played hide and seek all over the house. ${t.hero.Ref} hid behind the curtains, and ${par.ref} looked and looked for ${t.hero.him}.` },
  { base: 'make sock puppets', does: (t) => `They made puppets out of old socks and buttons. Then ${t.hero.ref} put on a funny puppet show, and everyone laughed.` },
  { base: 'have a dance party', does: (t) => `They turned on some music and danced around the kitchen. ${t.hero.Ref} spun around and around until ${t.hero.he} was dizzy.` },
  { base: 'build a little town out of boxes', does: (t) => `They found some old boxes and built a little town with houses, a school, and a road for ${t.hero.his} toy cars.` },
];

function rainyDay(t: Tale): string[] {
  const h = t.hero;
  const p = pickPlace(t, (x) => x.tags.has('out') && !x.tags.has('snow') && !x.tags.has('home'));
  const par = t.parent();
  const a1 = act(t, p);
  const [i1, i2] = t.d.some(RAINY_IDEAS, 2) as [Idea, Idea];
  const S = opening(t, { oneDay: false });
  S.push(t.one(
    () => `${h.Ref} and ${par.ref} had a plan. On Saturday, they were going to go ${p.to} to ${a1[0]}.`,
    () => `${par.Ref} had promised to take ${h.him} ${p.to} to ${a1[0]}.`,
    () => `${h.Ref} was going ${p.to} with ${par.ref}. ${h.He} wanted to ${a1[0]}.`,
  ));
  S.push(t.opt(0.6, () => `${h.Ref} was so excited that ${h.he} could hardly sleep.`));
  S.push(`But in the morning, ${h.ref} looked out the window. ${t.pick([
    'Big drops of rain were falling from the gray sky.', 'Rain was pouring down, and the sky was dark and gray.',
    'It was raining and raining, and the wind was blowing hard.', 'Rain was tapping on the window, and there were puddles everywhere.',
  ])}`);
  S.push(t.one(
    () => `"Oh no," said ${h.ref} sadly. "Now we can't go ${p.to}."`,
    () => `${h.Ref} pressed ${h.his} nose to the window. "Now we can't go ${p.to}," ${h.he} said sadly.`,
  ));
  S.push(t.opt(0.5, () => `${h.He} sat down on the couch and frowned.`));
  S.push(`${par.Ref} gave ${h.him} a hug. ${t.sayP(par, `I know you are sad. But I have an idea. Let's ${i1.base}!`)}`);
  S.push(i1.does(t, par, p));
  S.push(t.opt(0.5, () => `After that, they decided to ${i2.base}. ${i2.does(t, par, p)}`));
  S.push(`${h.Ref} was having so much fun that ${h.he} forgot all about the rain.`);
  S.push(t.pick(['In the afternoon, the rain stopped, and the sun came out.', 'Later, the rain stopped, and the clouds went away.']));
  S.push(t.opt(0.6, () => t.pick(['There was a big rainbow in the sky!', 'A beautiful rainbow stretched across the sky.'])));
  S.push(t.one(
    () => `${h.Ref} put on ${h.his} rain boots and jumped in all the puddles. Splash! Splash!`,
    () => `The next day, the sun was shining, and they went ${p.to} after all. ${h.Ref} ${a1[1]}, just like ${h.he} had wanted.`,
    () => `That night, ${h.ref} said, "That was the best rainy day ever!"`,
  ));
  S.push(t.opt(0.6, () => t.pick([
    `${h.Ref} learned that even a rainy day can be a happy day.`,
    `${h.Ref} learned that fun can happen anywhere, even inside on a rainy day.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: helping a hurt or lost animal

function hurtAnimal(t: Tale): string[] {
  const h = t.hero;
  const par = t.parent();
  const S = opening(t, { likes: 0.3 });
  S.push(t.opt(0.5, () => t.pick([`${h.He} had a kind heart and loved animals.`, `${h.He} loved all kinds of animals, big and small.`])));
  const kinds = ['bird', 'puppy', 'kitten', 'duckling', 'turtle', 'bunny', 'fish'] as const;
  const kind = t.pick(kinds);
  const name = t.pick(PET_NAMES);
  const outSpot = (p: Place) => {
    const ss = p.spots.filter((s) => !s.startsWith('s:'));
    return ss.length > 0 ? t.pick(ss) : 'near the path';
  };
  switch (kind) {
    case 'bird': {
      const p = pickPlace(t, (x) => ['park', 'garden', 'backyard', 'forest', 'woods', 'meadow'].includes(x.key));
      S.push(`${t.oneDay('warm')} ${h.ref} was playing ${p.at} when ${h.he} heard a soft little sound. "Cheep, cheep!"`);
      S.push(`${cap(outSpot(p))}, ${h.he} found a little bird. Its wing was hurt, and it could not fly.`);
      S.push(t.say(h, t.pick(['Poor little bird!', 'Oh, you poor thing!'])));
      S.push(`${h.He} gently picked it up and carried it ${p.key === 'backyard' || p.key === 'garden' ? 'inside' : 'home'} to ${par.ref}.`);
      S.push(`${par.Ref} found a small box, and ${h.ref} made a soft bed in it with an old ${t.pick(['sock', 'towel', 'sweater'])}.`);
      const named = t.chance(0.5);
      if (named) S.push(`${h.He} named the bird ${name}.`);
      const b = named ? name : 'the bird';
      S.push(`Every day, ${h.ref} gave ${b} seeds and water.`);
      S.push(t.pick([`Day by day, ${b} got stronger.`, `After a few days, ${b} began to flap ${named ? 'its' : 'its'} wings.`]));
      S.push(`One sunny morning, they took the box outside. ${cap(b)} hopped out, flapped its wings, and flew up into the sky!`);
      S.push(`${h.Ref} waved goodbye. ${h.He} felt a little sad, but mostly happy.`);
      S.push(t.opt(0.7, () => `Every morning after that, a little bird came to sing outside ${poss(h.ref)} window.`));
      break;
    }
    case 'puppy': {
      const p = pickPlace(t, (x) => ['park', 'woods', 'forest', 'meadow', 'field'].includes(x.key));
      const owner = t.grownup('neighbor', t.chance(0.5), 'the neighbor');
      S.push(`${t.oneDay('warm')} ${h.ref} was walking ${p.at} with ${par.ref} when ${h.he} heard a little whimper.`);
      S.push(`There, ${outSpot(p)}, was a little puppy. It was holding up one paw.`);
      S.push(`${h.Ref} knelt down. "What is wrong, little puppy?" ${h.he} asked softly.`);
      S.push(`${h.He} looked at its paw. There was a big thorn in it!`);
      S.push(`${par.Ref} held the puppy still, and ${h.ref} gently pulled the thorn out.`);
      S.push(`The puppy licked ${poss(h.ref)} face and wagged its tail.`);
      S.push(`It had a little tag on its collar. The tag said ${name}, and it told them where the puppy lived.`);
      S.push(`${h.Ref} and ${par.ref} walked ${name} home. ${a(owner.female ? 'old woman' : 'old man')} opened the door.`.replace(/\. (an?) old/, (_, x: string) => `. ${cap(x)} old`));
      owner.ref = owner.female ? 'the old woman' : 'the old man';
      S.push(t.say(owner, `${name}! I looked everywhere for you!`, 'cried'));
      S.push(`${owner.Ref} thanked ${h.ref} again and again. ${t.sayP(owner, `You can come and play with ${name} any time.`)}`);
      S.push(t.opt(0.7, () => `From then on, ${h.ref} visited ${name} every week, and they played in the yard together.`));
      break;
    }
    case 'kitten': {
      const p = pickPlace(t, (x) => ['park', 'backyard', 'garden', 'farm'].includes(x.key));
      S.push(`${t.oneDay('warm')} ${h.ref} was ${p.at} when ${h.he} heard a tiny voice. "Meow! Meow!"`);
      S.push(`${h.He} looked up. A little kitten was stuck high in a tree!`);
      S.push(`${h.Ref} tried to reach it, but the branch was too high.`);
      S.push(`${h.He} ran to get ${par.ref}. ${t.sayP(h, `${par.name}, come quick! A kitten is stuck!`)}`);
      S.push(`${par.Ref} brought a ladder and climbed up carefully. ${par.He} gently picked up the kitten and carried it down.`);
      S.push(`The kitten was shaking, so ${h.ref} held it close and stroked its soft fur. Soon it began to purr.`);
      S.push(`No one came to look for the kitten, so ${par.ref} said ${h.ref} could keep it.`);
      S.push(`${h.Ref} named it ${name}.`);
      S.push(t.pick([`From that day on, ${name} and ${h.ref} were the best of friends.`, `Every night after that, ${name} slept at the end of ${poss(h.ref)} bed.`]));
      break;
    }
    case 'duckling': {
      const p = pickPlace(t, (x) => ['pond', 'lake', 'park', 'farm'].includes(x.key));
      t.critter(speciesByName('duck'), true, 'the mother duck');
      S.push(`${t.oneDay('warm')} ${h.ref} was ${p.at} when ${h.he} saw a little duckling all alone. It was peeping and peeping.`);
      S.push(t.pick(['It had lost its mother!', 'It could not find its mother!']));
      S.push(`${h.Ref} looked around. Far away, ${h.he} saw a mother duck with her babies near the water.`);
      S.push(t.pick([
        `${h.He} gently picked up the duckling and carried it to the water.`,
        `${h.He} walked slowly toward the water, and the little duckling followed ${h.him}, step by step.`,
      ]));
      S.push('The mother duck quacked, and the duckling swam straight to her.');
      S.push('Then all the little ducks swam away in a line behind their mother.');
      S.push(`${h.Ref} smiled and waved. ${t.sayP(h, 'Bye, little duck!')}`);
      break;
    }
    case 'turtle': {
      const p = pickPlace(t, (x) => x.key === 'beach' || x.key === 'island');
      S.push(`${t.oneDay('warm')} ${h.ref} was walking on the sand ${p.at} with ${par.ref} when ${h.he} saw a baby turtle.`);
      S.push('It was trying to get to the sea, but it was going the wrong way!');
      S.push(t.say(h, `${par.name}, can I help it?`, 'asked'));
      S.push(t.say(par, 'Yes, but be very gentle.'));
      S.push(`${h.Ref} gently picked up the little turtle and carried it to the edge of the water.`);
      S.push('A small wave came, and the turtle began to swim. It swam out into the big blue sea.');
      S.push(`${h.Ref} waved goodbye. "Be safe, little turtle!" ${h.he} called.`);
      break;
    }
    case 'bunny': {
      const p = pickPlace(t, (x) => ['garden', 'farm', 'meadow', 'field', 'backyard'].includes(x.key));
      S.push(`${t.oneDay('warm')} ${h.ref} was ${p.at} when ${h.he} heard a rustle near the fence.`);
      S.push('A little bunny was stuck in the fence! Its foot was caught, and it could not get out.');
      S.push(t.say(h, "Don't be scared, little bunny. I will help you."));
      S.push(`${h.Ref} tried to pull the wire, but it was too hard for ${h.him}. So ${h.he} ran to get ${par.ref}.`);
      S.push(`${par.Ref} came right away. Together, they gently moved the wire, and the bunny was free.`);
      S.push('The bunny hopped away. Then it turned around and wiggled its little nose, as if to say thank you.');
      S.push(t.opt(0.7, () => `After that, ${h.ref} left a carrot by the fence every morning, and every morning the carrot was gone.`));
      break;
    }
    default: {
      const p = pickPlace(t, (x) => x.key === 'river' || x.key === 'lake');
      S.push(`${t.oneDay('warm')} ${h.ref} was ${p.at} with ${par.ref}. They were looking for pretty stones when ${h.ref} saw a little fish flapping in a small puddle.`);
      S.push('It had jumped out of the water, and it could not get back!');
      S.push(t.say(h, t.pick([`${par.name}, look! The fish needs help!`, 'Oh no! The poor fish cannot breathe!'])));
      S.push(`${h.Ref} scooped up some water in ${h.his} hands and gently picked up the fish.`);
      S.push(`${h.He} carried it to the ${p.key} and put it back in the water.`);
      S.push('For a moment, the fish did not move. Then it wiggled its tail and swam away into the deep water.');
      S.push(t.say(h, t.pick(['Goodbye, little fish!', 'Swim safe, little fish!'])));
      S.push(`${par.Ref} smiled. ${t.sayP(par, 'You were very quick and very gentle.')}`);
    }
  }
  S.push(t.opt(0.6, () => t.pick([
    `${h.Ref} learned that even a small act of kindness can make a big difference.`,
    `${h.Ref} felt warm and happy inside. It feels good to help.`,
    `${h.Ref} learned that we should always be gentle and kind to animals.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: learning to do something hard

interface Skill {
  readonly key: string;
  readonly animal?: boolean;
  readonly want: (h: Char) => string;
  readonly prop?: (t: Tale, h: Char) => string;
  readonly fail: (h: Char) => string;
  readonly advice: string;
  readonly practice: (h: Char, helper: Char) => string;
  readonly success: (h: Char, helper: Char) => string;
}

const SKILLS: readonly Skill[] = [
  {
    key: 'bike',
    want: (h) => `${h.Ref} wanted to learn to ride a bike. All the big kids on ${h.his} street could ride bikes.`,
    prop: (t, h) => `For ${h.his} birthday, ${h.he} got a shiny ${t.pick(COLORS)} bike.`,
    fail: (h) => `${h.He} pushed the pedals, but the bike wobbled, and ${h.he} fell down. ${h.He} scraped ${h.his} knee.`,
    advice: 'Everyone falls when they are learning. Keep your eyes up, and keep pedaling.',
    practice: (h, x) => `Every day, ${h.ref} practiced. ${x.Ref} held the back of the seat while ${h.he} rode.`,
    success: (h, x) => `Then one day, ${x.ref} let go, and ${h.ref} did not even notice! ${h.He} rode all the way to the end of the street.`,
  },
  {
    key: 'swim',
    want: (h) => `${h.Ref} wanted to learn to swim like the big kids at the pool.`,
    fail: (h) => `${h.He} kicked ${h.his} legs and moved ${h.his} arms, but ${h.he} sank and got water up ${h.his} nose.`,
    advice: 'Kick your legs, stretch out your arms, and blow bubbles in the water.',
    practice: (h, x) => `Every week, ${h.ref} went to the pool with ${x.ref}. ${h.He} practiced kicking and blowing bubbles.`,
    success: (h) => `Then one day, ${h.ref} kicked and paddled, and ${h.he} swam all the way across the pool!`,
  },
  {
    key: 'shoes',
    want: (h) => `${h.Ref} wanted to learn to tie ${h.his} shoes all by ${h.himself}.`,
    fail: (h) => `${h.He} tried and tried, but the laces got all tangled up in a big knot.`,
    advice: 'Make two bunny ears, cross them over, and pull them tight.',
    practice: (h) => `${h.Ref} practiced every morning before breakfast.`,
    success: (h) => `Then one morning, ${h.he} made two bunny ears, crossed them over, and pulled. There was a perfect bow!`,
  },
  {
    key: 'rope',
    want: (h) => `${h.Ref} wanted to learn to jump rope like the big kids.`,
    prop: (t, h) => `${h.His} ${t.pick(['grandma', 'aunt', 'big cousin'])} gave ${h.him} ${a(t.pick(COLORS))} jump rope.`,
    fail: (h) => `${h.He} swung the rope over ${h.his} head, but ${h.his} feet got tangled, and ${h.he} tripped.`,
    advice: 'Swing the rope, and jump just when it comes to your feet.',
    practice: (h) => `${h.Ref} practiced in the yard every day.`,
    success: (h) => `Then one day, ${h.he} jumped once, then twice, then ten times in a row!`,
  },
  {
    key: 'whistle',
    want: (h) => `${h.Ref} wanted to learn to whistle like ${h.his} grandpa.`,
    fail: (h) => `${h.He} made a little circle with ${h.his} lips and blew, but only air came out.`,
    advice: 'Make a little circle with your lips, and blow very softly.',
    practice: (h) => `${h.Ref} practiced all the time, at breakfast, in the bath, and on the way to the park.`,
    success: (h) => `Then one day, a tiny sound came out. Wheet! ${h.Ref} had whistled!`,
  },
  {
    key: 'kite',
    want: (h) => `${h.Ref} wanted to learn to fly a kite.`,
    prop: (t, h) => `${h.His} ${t.pick(['grandpa', 'uncle', 'dad', 'mom'])} gave ${h.him} ${a(t.pick(COLORS))} kite with a long tail.`,
    fail: (h) => `${h.He} ran and ran, but the kite just bumped along the ground behind ${h.him}.`,
    advice: 'Wait for the wind. When it comes, run and let the string out slowly.',
    practice: (h) => `${h.Ref} went to the big field again and again to practice.`,
    success: (h) => `Then one windy day, a big gust came. ${h.Ref} ran and let out the string, and up, up, up went the kite!`,
  },
  {
    key: 'cartwheel',
    want: (h) => `${h.Ref} wanted to learn to do a cartwheel.`,
    fail: (h) => `${h.He} put ${h.his} hands on the grass and kicked ${h.his} legs, but ${h.he} fell over in a heap.`,
    advice: 'Put one hand down, then the other, and kick your legs up high.',
    practice: (h) => `Every day, ${h.ref} practiced on the soft grass.`,
    success: (h) => `Then one day, ${h.he} put one hand down, then the other, and ${h.his} legs went right up and over!`,
  },
  {
    key: 'fly', animal: true,
    want: (h) => `${h.Ref} wanted to fly high in the sky like the big ${plural(h.animal!.n)}.`,
    fail: (h) => `${h.He} flapped ${h.his} little wings as hard as ${h.he} could, but ${h.he} just fell into a pile of leaves.`,
    advice: 'Spread your wings wide, and let the wind lift you up.',
    practice: (h) => `Every day, ${h.ref} practiced flapping ${h.his} wings on a low branch.`,
    success: (h) => `Then one morning, ${h.he} spread ${h.his} wings and jumped, and the wind lifted ${h.him} up into the sky!`,
  },
  {
    key: 'paddle', animal: true,
    want: (h) => `${h.Ref} wanted to swim across the pond like the big ${plural(h.animal!.n)}.`,
    fail: (h) => `${h.He} jumped in, but ${h.he} just splashed and went around in circles.`,
    advice: 'Kick your feet slowly, one and then the other.',
    practice: (h) => `Every day, ${h.ref} practiced near the edge of the pond.`,
    success: (h) => `Then one day, ${h.ref} paddled all the way across the pond!`,
  },
  {
    key: 'climb', animal: true,
    want: (h) => `${h.Ref} wanted to climb to the top of the tallest tree.`,
    fail: (h) => `${h.He} climbed a little way, but ${h.his} paws slipped, and ${h.he} slid back down.`,
    advice: 'Hold on tight, and take one small step at a time.',
    practice: (h) => `Every day, ${h.ref} practiced on a little tree.`,
    success: (h) => `Then one day, ${h.he} climbed higher and higher, all the way to the very top! From up there, ${h.he} could see far away.`,
  },
  {
    key: 'hop', animal: true,
    want: (h) => `${h.Ref} wanted to jump over the little stream like the big ${plural(h.animal!.n)}.`,
    fail: (h) => `${h.He} ran and jumped, but ${h.he} landed right in the water with a big splash!`,
    advice: 'Bend your legs, and push off as hard as you can.',
    practice: (h) => `Every day, ${h.ref} practiced jumping over sticks and stones.`,
    success: (h) => `Then one day, ${h.he} bent ${h.his} legs, pushed off, and sailed right over the stream!`,
  },
];

function learning(t: Tale): string[] {
  const h = t.hero;
  const sp = h.animal;
  const skill = sp
    ? SKILLS.find((s) => s.key === sp.skill && !!s.animal)!
    : t.pick(SKILLS.filter((s) => !s.animal));
  const byFriend = sp ? t.chance(0.3) : skill.key !== 'bike' && skill.key !== 'swim' && t.chance(0.3);
  const helper = byFriend ? friendOf(t) : sp ? t.kin('mom') : t.parent();
  const S = opening(t, { likes: 0.3 });
  S.push(skill.want(h));
  if (skill.prop) S.push(t.opt(0.6, () => skill.prop!(t, h)));
  S.push(`${t.oneDay()} ${h.ref} tried for the first time.`);
  S.push(skill.fail(h));
  S.push(t.one(
    () => t.sayP(h, 'I will never learn!', 'cried'),
    () => t.sayP(h, 'It is too hard!', 'cried'),
    () => `${h.Ref} felt like giving up.`,
  ));
  S.push(`${byFriend ? cap(friendNP(t, helper)) : helper.Ref} ${t.pick(['sat down next to', 'hugged', 'came over to'])} ${h.ref}.`);
  S.push(t.sayP(helper, `${t.pick(["Don't give up.", 'You can do it.', 'Everyone has to start somewhere.'])} ${skill.advice}`));
  S.push(skill.practice(h, helper));
  S.push(t.opt(0.6, () => `Some days it went well, and some days it did not. But ${h.ref} did not give up.`));
  S.push(skill.success(h, helper));
  S.push(t.sayP(h, t.pick(['I did it! I did it!', 'Look at me! I can do it!', 'Hooray! I did it!']), 'shouted'));
  S.push(`${helper.Ref} ${t.pick(['clapped and cheered', 'laughed and clapped', 'gave ' + h.him + ' a big hug'])}.`);
  S.push(t.opt(0.5, () => `${h.Ref} was so proud of ${h.himself}.`));
  S.push(t.opt(0.7, () => t.pick([
    `${h.Ref} learned that if you keep trying, you can do hard things.`,
    `${h.Ref} learned that practice helps you get better, one day at a time.`,
    `${h.Ref} learned never to give up.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: a day trip

function trip(t: Tale): string[] {
  const h = t.hero;
  const p = pickPlace(t, (x) => x.tags.has('trip') && x.sights.length >= 3 && x.acts.length >= 2);
  const par = t.parent();
  const [s1, s2, s3] = t.d.some(p.sights, 3);
  const a1 = act(t, p);
  const a2 = act(t, p, [a1]);
  const how = p.key === 'island' ? 'boat' : t.pick(['car', 'car', 'bus', 'train', p.tags.has('in') ? 'car' : 'walk']);
  const S = opening(t);
  S.push(t.one(
    () => `${t.oneDay(weatherWord(p))} ${par.ref} had a surprise. ${t.sayP(par, `Today we are going ${p.to}!`)}`,
    () => `${t.oneDay(weatherWord(p))} ${poss(h.ref)} family went on a trip ${p.to}.`,
    () => `${t.oneDay(weatherWord(p))} ${h.ref} and ${par.ref} went ${p.to}.`,
  ));
  S.push(t.opt(0.6, () => t.pick([`${h.Ref} was so excited!`, `${h.Ref} jumped up and down.`, `${h.Ref} clapped ${h.his} hands.`])));
  const ride = {
    car: `They rode in the car for a long time. ${h.Ref} looked out the window and saw ${t.pick(['cows and horses', 'trees and houses', 'big trucks and little cars', 'fields of yellow flowers'])}.`,
    bus: `They took a big ${t.pick(['yellow', 'red', 'blue'])} bus. ${h.Ref} sat by the window and waved at the people outside.`,
    train: `They rode on a long train. Choo, choo! ${h.Ref} watched the trees and fields go by.`,
    boat: `They rode in a little boat across the water. The wind blew in ${poss(h.ref)} hair, and the boat went up and down.`,
    walk: `They walked there together, holding hands and singing songs.`,
  }[how]!;
  S.push(t.opt(0.75, () => ride));
  S.push(t.one(
    () => `When they got there, ${h.ref} saw ${s1} and ${s2}.`,
    () => `${cap(p.at)}, there was so much to see. ${cap(thereIs(s1))}, and ${thereIs(s2)}.`,
  ));
  S.push(t.opt(0.6, () => t.say(h, t.pick(['Wow!', 'Look at that!', `I love ${p.the}!`, 'This is amazing!']))));
  S.push(t.one(
    () => `First, they ${a1[1]}. Then they ${a2[1]}.`,
    () => `${h.Ref} ${a1[1]}. After that, ${h.he} ${a2[1]}.`,
    () => `They ${a1[1]} and ${a2[1]}.`,
  ));
  S.push(t.opt(0.4, () => `${h.He} also saw ${s3}.`));
  const treasure = ['beach', 'island', 'cave', 'lake', 'river'].includes(p.key)
    ? t.pick(['a pretty pink shell', 'a smooth white stone', 'a shiny shell shaped like a fan'])
    : p.tags.has('wild') || p.tags.has('open')
      ? t.pick(['a long bird feather', 'a smooth gray stone', 'a shiny pinecone', 'a leaf shaped like a heart'])
      : t.pick(['a shiny penny', 'a little blue button', 'a pretty red leaf']);
  const incidents: (() => string)[] = [
    () => `${par.Ref} bought ${h.him} an ice cream cone. But then ${h.he} tripped, and the ice cream fell on the ground! ${h.Ref} was about to cry. Then ${par.ref} smiled and shared ${par.his} own ice cream with ${h.him}.`,
    () => `Later, ${h.ref} found ${treasure}. ${h.He} put it in ${h.his} pocket to take home.`,
  ];
  if (p.tags.has('out')) incidents.push(() => `At lunch time, they sat on a blanket and had a picnic. They ate sandwiches, apples, and cookies.`);
  if (['farm', 'zoo', 'orchard', 'pumpkins', 'hills'].includes(p.key)) {
    incidents.push(() => `Then a little goat came over and tried to eat ${poss(h.ref)} ${t.pick(['hat', 'sleeve', 'shoelace'])}! ${h.Ref} giggled and giggled.`);
  }
  const [i1, i2] = t.d.some(incidents, 2) as [() => string, () => string];
  S.push(i1());
  S.push(t.opt(0.35, i2));
  S.push(t.pick(['When the sun began to set, it was time to go home.', 'Soon it was time to go home.', 'At the end of the day, they were all tired and happy.']));
  const homeBy = { car: 'in the car', bus: 'on the bus', train: 'on the train', boat: 'in the boat', walk: "in " + par.his + ' arms' }[how]!;
  S.push(t.one(
    () => `${h.Ref} was so tired that ${h.he} fell asleep ${homeBy} with a big smile.`,
    () => t.say(h, t.pick(['Can we come back again soon?', 'Can we go again tomorrow?']), 'asked'),
    () => `That night, ${h.ref} dreamed about ${p.the}.`,
  ));
  S.push(t.opt(0.5, () => t.pick(['It was the best day ever.', `It was a day ${h.ref} would never forget.`, `${h.Ref} learned that the world is full of wonderful things to see.`])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: making something together

function makeTogether(t: Tale): string[] {
  const h = t.hero;
  const project = t.pick(['cookies', 'sandcastle', 'snowman', 'tower', 'feeder']);
  const withFriend = t.chance(0.55);
  const par = t.parent();
  const m = withFriend ? friendOf(t) : par;
  const mIntro = withFriend ? friendNP(t, m) : m.ref;
  const S = opening(t, { oneDay: project !== 'snowman' });
  const both = `${h.ref} and ${mIntro}`;
  switch (project) {
    case 'cookies': {
      S.push(`${t.oneDay()} ${both} decided to bake cookies.`);
      S.push(t.opt(0.6, () => 'They put on aprons and got out flour, sugar, butter, and eggs.'));
      S.push(`${h.Ref} poured in the flour, and ${m.ref} stirred and stirred.`);
      S.push(t.one(
        () => `But ${h.ref} poured too fast, and a big white cloud of flour went everywhere! Now they both had white faces. They looked at each other and laughed.`,
        () => `Oops! ${m.Ref} dropped an egg on the floor. Splat! ${t.say(h, "It's okay. We have more eggs.")}`,
        () => `But they forgot the sugar, and the first cookie tasted funny. ${t.say(m, "Let's try again. This time we will go slowly.")}`,
      ));
      S.push('They cleaned up and tried again, more carefully this time.');
      if (withFriend) S.push(`${par.Ref} helped them put the cookies in the hot oven.`);
      else S.push(`Then ${m.ref} put the cookies in the hot oven.`);
      S.push(t.pick(['Soon the whole kitchen smelled warm and sweet.', 'While they waited, the kitchen filled with a warm, sweet smell.']));
      S.push(t.pick(['The cookies came out golden and yummy.', 'The cookies were warm, soft, and delicious.']));
      S.push(t.opt(0.7, () => `They shared the cookies with ${t.pick(['the whole family', 'the neighbors', 'all their friends', 'the old man next door'])}.`));
      break;
    }
    case 'sandcastle': {
      S.push(`${t.oneDay('warm')} ${both} went to the beach to build a sandcastle.`);
      S.push('They filled buckets with wet sand and made tall towers.');
      S.push(`${m.Ref} dug a little river all around it, and ${h.ref} put pretty shells on the top.`);
      S.push('But then a big wave came and washed the sandcastle away!');
      S.push(t.say(h, 'Oh no! Our castle is gone!', 'cried'));
      S.push(`${m.Ref} had an idea. ${t.sayP(m, "Let's build a new one, far away from the water.")}`);
      S.push('So they built a new castle up where the sand was dry. This time, they made it even bigger, with four towers and a high wall.');
      S.push('The waves came again, but they could not reach it.');
      S.push(t.opt(0.7, () => `${h.Ref} and ${m.ref} sat next to their castle and watched the sun go down.`));
      break;
    }
    case 'snowman': {
      S.push(`${t.oneDay('cold')} ${h.ref} woke up and looked out the window. Everything was white with snow!`);
      S.push(`${h.Ref} and ${mIntro} put on warm coats and mittens and ran outside to build a snowman.`);
      S.push('They rolled a big ball of snow for the bottom and a smaller ball for the middle.');
      S.push(t.one(
        () => `But the head kept falling off! Plop! ${t.say(h, 'It will never stay!')} ${m.Ref} showed ${h.him} how to pat the snow down hard, and this time the head stayed on.`,
        () => `But the middle ball was so heavy that ${h.ref} could not lift it alone. ${t.say(m, "Let's lift it together!")} They pushed and pushed, and up it went!`,
      ));
      S.push(`They gave the snowman two stones for eyes, a carrot for a nose, and an old ${t.pick(['hat', 'scarf', 'red scarf', 'blue hat'])}.`);
      S.push(t.pick(['It was the best snowman ever.', 'The snowman looked so happy that they laughed and laughed.']));
      S.push(t.opt(0.6, () => 'Then they went inside and drank hot cocoa to warm up.'));
      break;
    }
    case 'tower': {
      S.push(`${t.oneDay()} ${both} wanted to build the tallest tower in the world.`);
      S.push('They put one block on top of another, higher and higher.');
      S.push(`But when the tower was almost as tall as ${h.ref}, it wobbled and fell down with a crash!`);
      S.push(t.say(h, t.pick(['It will never work!', 'Oh no! It fell down!']), 'cried'));
      S.push(t.say(m, "Let's make the bottom wider. Then it will be strong."));
      S.push('So they built a big, wide bottom and made the tower smaller and smaller as it went up.');
      S.push(`This time, the tower stood tall and strong. It was even taller than ${h.ref}!`);
      break;
    }
    default: {
      S.push(`${t.oneDay()} ${both} wanted to make a treat for the birds.`);
      S.push('They found a big pinecone, covered it with peanut butter, and rolled it in bird seeds.');
      S.push(`It was sticky and messy, and ${h.ref} got peanut butter all over ${h.his} fingers! They both laughed.`);
      S.push('They tied a string to the pinecone and hung it on a branch of the big tree.');
      S.push('Then they waited and waited by the window. At first, no birds came.');
      S.push(t.say(m, 'Be patient. The birds will come.'));
      S.push(`Then a little ${t.pick(['blue', 'red', 'brown', 'yellow'])} bird landed on the branch. Peck, peck, peck! Soon more birds came.`);
      S.push(t.opt(0.7, () => `Every morning after that, ${h.ref} watched the birds eat breakfast outside the window.`));
    }
  }
  S.push(t.opt(0.5, () => t.pick([
    `${h.Ref} learned that working together makes everything better.`,
    `${h.Ref} learned that when something goes wrong, you can always try again.`,
    `${h.Ref} learned that two friends can do more than one.`.replace('two friends', withFriend ? 'two friends' : 'two people'),
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: a surprise for someone

function surprise(t: Tale): string[] {
  const h = t.hero;
  const animal = !!h.animal;
  const forFriend = t.chance(0.25);
  const r = forFriend ? friendOf(t) : animal ? t.kin('mom') : t.parent();
  const rIntro = r.ref;
  const helper = animal ? null : r.kind === 'mom' ? t.kin('dad') : r.kind === 'dad' ? t.kin('mom') : t.kin(t.pick(['mom', 'dad'] as const));
  const occasion = t.pick(['birthday', 'sick', 'tired']);
  const S = opening(t);
  if (forFriend) S.push(r.animal ? `${h.Ref} had a good friend, ${a(r.kind)} named ${r.name}.` : `${h.Ref} had a good friend named ${r.name}.`);
  S.push({
    birthday: `It was almost ${poss(rIntro)} birthday.`,
    sick: `${cap(rIntro)} was sick in bed with a bad cold.`,
    tired: `${cap(rIntro)} had been working very hard, and ${r.he} was very tired.`,
  }[occasion]!);
  S.push(`${h.Ref} wanted to make a special surprise for ${r.ref}.`);
  S.push(t.opt(0.5, () => `${h.He} thought and thought. Then ${h.he} had an idea!`));
  const gifts = animal ? ['flowers', 'berries', 'song'] : ['card', 'flowers', 'cake', 'rock', 'necklace', 'song', ...(forFriend ? [] : ['breakfast'])];
  const gift = t.pick(gifts);
  const helpWith = helper ? `${helper.ref}` : '';
  let thing = 'present';
  switch (gift) {
    case 'card':
      thing = 'card';
      S.push(`${h.He} took out paper and crayons and made a card. On the front, ${h.he} drew a big red heart and a smiling sun.`);
      S.push(`Inside, ${h.he} wrote, "${forFriend ? 'You are my best friend!' : 'I love you!'}"`);
      break;
    case 'flowers':
      thing = 'flowers';
      S.push(`${h.He} went ${animal ? 'out to the meadow' : 'into the garden'} and picked the prettiest flowers ${h.he} could find. There were red ones, yellow ones, and purple ones.`);
      S.push(animal ? `${h.He} tied them together with a long piece of grass.` : `${h.He} put them in a jar of water.`);
      break;
    case 'berries':
      thing = 'berries';
      S.push(`${h.He} went deep into the woods and found the sweetest, reddest berries. ${h.He} carried them home very carefully in a big green leaf.`);
      break;
    case 'cake':
      thing = 'cake';
      S.push(`With ${poss(helpWith)} help, ${h.he} baked a little cake with pink frosting and ${t.pick(['sprinkles', 'strawberries', 'a big heart on top'])}.`);
      break;
    case 'rock':
      thing = 'rock';
      S.push(`${h.He} found a smooth, round rock and painted it with bright colors and a smiling face.`);
      break;
    case 'necklace':
      thing = 'necklace';
      S.push(`${h.He} made a necklace out of colorful beads. ${h.He} picked ${poss(r.ref)} favorite colors.`);
      break;
    case 'song':
      thing = 'song';
      S.push(`${h.He} made up a special song and practiced it again and again.`);
      break;
    default:
      thing = 'breakfast';
      S.push(`Early in the morning, ${h.ref} and ${helpWith} made breakfast with toast, jam, and orange juice. ${h.Ref} put a flower on the tray.`);
  }
  if (gift !== 'song' && gift !== 'breakfast') {
    S.push(t.one(
      () => `${h.He} hid the ${thing} under ${h.his} bed so no one would see.`.replace(' under ' + h.his + ' bed', animal ? ' behind a bush' : ' under ' + h.his + ' bed'),
      () => helper ? `"Shh! It is a secret," ${h.he} whispered to ${helper.ref}.` : `${h.He} hid the ${thing} and did not tell anyone.`,
      () => `When ${r.ref} walked by, ${h.ref} quickly hid the ${thing} behind ${h.his} back.`,
    ));
  }
  S.push(t.pick([`When the time came, ${h.ref} ran to ${r.ref}.`, `Then ${h.ref} went to ${r.ref}.`, `At last, it was time.`]));
  S.push(gift === 'song'
    ? `${t.sayP(h, 'Surprise! I made a song for you!', 'shouted')} Then ${h.he} sang the song from beginning to end.`
    : t.sayP(h, `Surprise! ${gift === 'breakfast' ? 'We made you breakfast!' : gift === 'flowers' || gift === 'berries' ? `These are for you!` : `This is for you!`}`, 'shouted'));
  S.push(t.pick([`${cap(poss(r.ref))} eyes grew big.`, `${r.Ref} smiled a big smile.`, `${r.Ref} was so surprised.`]));
  S.push(t.say(r, t.pick([gift === 'breakfast' || gift === 'cake' ? 'Did you make this for me?' : 'Did you do this all by yourself?', 'Oh my! Is this really for me?']), 'asked'));
  S.push(t.say(h, t.pick(['Yes, just for you!', 'Yes! I wanted to make you happy.'])));
  S.push(`${r.Ref} gave ${h.ref} a big hug. ${t.sayP(r, t.pick(['This is the best present ever. Thank you!', 'Thank you. I love it so much.', 'You made my day.']))}`);
  if (occasion === 'sick') S.push(t.opt(0.7, () => `${r.Ref} said ${r.he} already felt much better.`));
  S.push(t.opt(0.6, () => `${h.Ref} felt warm and happy inside.`));
  S.push(t.opt(0.6, () => t.pick([
    `${h.Ref} learned that giving can be even more fun than getting.`,
    `${h.Ref} learned that the best presents come from the heart.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: a disagreement and making up

function disagreement(t: Tale): string[] {
  const h = t.hero;
  const animal = !!h.animal;
  const f = friendOf(t);
  const S = opening(t, { likes: 0.3 });
  S.push(f.animal
    ? `${h.Ref} had a best friend, ${a(f.kind)} named ${f.name}.`
    : `${h.Ref} had a best friend named ${f.name}.`);
  S.push(t.pick(['They played together every day.', 'They did everything together.', 'They loved to play together.', 'They were always together.']));
  const kind = animal ? t.pick(['game', 'rock']) : t.pick(['swing', 'game', 'tower', 'crayon']);
  const p = kind === 'swing' ? pickPlace(t, (x) => ['park', 'playground', 'backyard'].includes(x.key))
    : kind === 'tower' || kind === 'crayon' ? placeFor(placeByKey(t.pick(['home', 'school'])), h)
      : pickPlace(t, (x) => x.tags.has('out') && (x.tags.has('play') || x.tags.has('wild')));
  const day = t.oneDay(weatherWord(p));
  switch (kind) {
    case 'swing':
      S.push(`${day} they went ${p.to}. There was only one swing left.`);
      S.push(`"Me first!" shouted ${h.ref}. "No, me first!" shouted ${f.ref}.`);
      S.push('They both grabbed the swing and pulled.');
      break;
    case 'game':
      S.push(`${day} they were playing ${p.at}.`);
      S.push(t.say(h, "Let's play tag!"));
      S.push(t.say(f, 'No, I want to play hide and seek!'));
      S.push(`"Tag!" said ${h.ref}. "Hide and seek!" said ${f.ref}.`);
      break;
    case 'rock':
      S.push(`${day} they both wanted to sit on the big warm rock ${p.at}. It was the best spot in the sun.`);
      S.push(`"It is my rock!" said ${h.ref}. "No, it is mine!" said ${f.ref}.`);
      break;
    case 'tower':
      S.push(`${day} they were building a tall tower of blocks ${p.at}.`);
      S.push(`${f.Ref} reached for a block and bumped the tower by accident. Crash!`);
      S.push(t.say(h, 'You knocked it down! You ruined everything!', 'shouted'));
      S.push(t.say(f, 'It was an accident!'));
      break;
    default:
      S.push(`${day} they were drawing pictures ${p.at}. They both wanted the red crayon at the same time.`);
      S.push(`"I had it first!" said ${h.ref}. "No, I did!" said ${f.ref}.`);
  }
  S.push(t.pick(['Their voices got louder and louder.', 'Soon they were both very angry.', 'Neither of them would give in.']));
  S.push(t.pick([`${f.Ref} stomped away, and ${h.ref} crossed ${h.his} arms.`, `${f.Ref} walked away, and ${h.ref} sat all by ${h.himself}.`, `They turned their backs on each other.`]));
  S.push(t.pick([`${h.Ref} did not feel happy. ${h.He} missed ${h.his} friend.`, `Playing alone was no fun at all.`, `After a while, ${h.ref} did not feel angry anymore. ${h.He} just felt sad.`]));
  if (!animal && p.key !== 'school' && t.chance(0.5)) {
    const par = t.parent();
    S.push(`${par.Ref} sat down next to ${h.ref}. ${t.sayP(par, 'What happened?', 'asked')}`);
    S.push(`${h.Ref} told ${par.him} everything.`);
    S.push(t.say(par, 'Friends do not always agree. But they can talk, and they can find a way to make it right.'));
  }
  S.push(`${h.Ref} went to find ${f.ref}. ${f.Ref} was sitting ${animal ? 'under a tree' : p.tags.has('wild') ? 'on an old log' : 'on the steps'}, looking sad too.`);
  S.push(t.say(h, t.pick(['I am sorry I shouted.', 'I am sorry. I was not very nice.', `I am sorry, ${f.name}.`])));
  S.push(t.say(f, t.pick(['I am sorry too.', 'Me too. I missed you.', "I am sorry too. Let's be friends again."])));
  switch (kind) {
    case 'swing':
      S.push(`Then they had an idea. They would take turns! First ${f.ref} swung, and ${h.ref} pushed. Then ${h.ref} swung, and ${f.ref} pushed.`);
      break;
    case 'game':
      S.push(`${t.say(t.pick([h, f]), "Let's play tag first, and then hide and seek.")} So they played both games, and both were fun.`);
      break;
    case 'rock':
      S.push('Then they saw that the rock was big enough for two. They sat side by side and warmed their toes in the sun.');
      break;
    case 'tower':
      S.push(`${t.say(h, "Let's build a new tower together.")} So they did, and the new tower was even taller than before.`);
      break;
    default:
      S.push(`They decided to share. ${h.Ref} used the red crayon to draw a big apple, and then ${f.ref} used it to draw a fire truck.`);
  }
  S.push(t.pick([`${h.Ref} and ${f.ref} were friends again.`, `They gave each other a big hug.`, `Soon they were laughing together like before.`]));
  S.push(t.opt(0.7, () => t.pick([
    `${h.Ref} learned that saying sorry can fix a fight.`,
    `${h.Ref} learned that taking turns is fair, and it is more fun too.`,
    `${h.Ref} learned that friends can disagree and still be friends.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: telling the truth

function honesty(t: Tale): string[] {
  const h = t.hero;
  const par = t.parent();
  const pet = t.chance(0.4) ? t.beast(speciesByName(t.pick(['dog', 'cat']))) : null;
  const S = opening(t, { oneDay: false });
  if (pet) S.push(`${h.He} had a ${t.pick(['fluffy', 'little', 'sleepy'])} ${pet.kind} named ${pet.name}.`);
  const kind = t.pick(['vase', 'cookies', 'wall', 'book']);
  let what = '';
  let fix = '';
  switch (kind) {
    case 'vase':
      S.push(`${par.Ref} always said, "No playing ball in the house."`);
      S.push(`But ${lc(t.oneDay())} it was raining, and ${h.ref} was bored. ${h.He} bounced ${h.his} ball in the living room.`);
      S.push(`The ball bounced too high and hit ${poss(par.ref)} favorite vase. Crash! The vase broke into pieces.`);
      S.push(`${h.Ref} was scared. ${h.He} quickly pushed the pieces under the couch.`);
      what = 'my vase';
      fix = 'Together, they glued the pieces of the vase back together. It was not perfect, but it was still pretty.';
      break;
    case 'cookies':
      S.push(`${t.oneDay()} ${par.ref} baked a big plate of cookies for a party. ${t.sayP(par, 'Please do not eat these. They are for later.')}`);
      S.push(`But the cookies smelled so good. When no one was looking, ${h.ref} ate one, then another, and then another.`);
      S.push('Soon there were only crumbs left on the plate.');
      what = 'the cookies';
      fix = 'Then they baked a new plate of cookies for the party together. This time, they saved one just for ' + h.ref + '.';
      break;
    case 'wall':
      S.push(`${t.oneDay()} ${h.ref} wanted to draw a big picture, but ${h.his} paper was too small. So ${h.he} drew a big sun and a house right on the wall!`);
      S.push(`Then ${h.he} looked at the wall and got scared. ${h.He} put a chair in front of it.`);
      what = 'the wall';
      fix = `Then they washed the wall together with soap and water, and ${par.ref} gave ${h.him} a big roll of paper to draw on.`;
      break;
    default:
      S.push(`${t.oneDay()} ${h.ref} was reading ${poss(par.ref)} special book and drinking a cup of juice.`);
      S.push('Oops! The juice spilled all over the pages.');
      S.push(`${h.Ref} was scared. ${h.He} closed the book and put it back on the shelf.`);
      what = 'my book';
      fix = 'Then they dried the pages together, one by one, by the warm window.';
  }
  S.push(`Later, ${par.ref} ${kind === 'cookies' ? 'saw the empty plate' : kind === 'wall' ? 'moved the chair' : kind === 'book' ? 'opened the book' : 'found the pieces'}.`);
  S.push(t.say(par, `${h.name}, do you know what happened to ${what}?`, 'asked'));
  const blamed = pet && t.chance(0.7);
  S.push(blamed ? t.say(h, `It was not me. Maybe it was ${pet!.name}.`) : t.say(h, t.pick(['I do not know.', 'It was not me.'])));
  if (blamed) S.push(`${par.Ref} looked at ${pet!.name}. ${pet!.name} looked very sad, and ${pet!.he} went to lie down in the corner.`);
  S.push(t.pick([
    `But after that, ${h.ref} did not feel good. ${h.His} tummy felt funny, and ${h.he} could not stop thinking about it.`,
    `That night, ${h.ref} could not sleep. ${h.He} felt bad inside.`,
    `${h.Ref} tried to play, but ${h.he} felt heavy and sad inside.`,
  ]));
  S.push(`Finally, ${h.ref} went to ${par.ref}.`);
  const confess = { vase: 'I broke your vase. I was playing ball in the house.', cookies: 'I ate the cookies. I am sorry.', wall: 'I drew on the wall. I am sorry.', book: 'I spilled juice on your book. I am sorry.' }[kind]!;
  S.push(t.sayP(h, `${t.pick(['I have to tell you something.', `${par.name}, I did not tell the truth.`])} ${confess}`));
  S.push(`${par.Ref} ${t.pick(['gave ' + h.him + ' a big hug', 'knelt down and hugged ' + h.him, 'was quiet for a moment. Then ' + par.he + ' hugged ' + h.him])}.`);
  S.push(t.say(par, t.pick([
    'Thank you for telling me the truth. I am proud of you for being honest.',
    'It was a mistake, and everyone makes mistakes. Thank you for telling me the truth.',
    'I am not angry. I am happy that you told me the truth.',
  ])));
  if (blamed) S.push(`${h.Ref} gave ${pet!.name} a big hug too. ${t.sayP(h, `I am sorry, ${pet!.name}.`)}`);
  S.push(fix);
  S.push(t.pick([`${h.Ref} felt light and happy again.`, `Now ${h.ref} felt much better inside.`]));
  S.push(t.opt(0.8, () => t.pick([
    `${h.Ref} learned that telling the truth is always the right thing to do.`,
    `${h.Ref} learned that it is better to tell the truth, even when it is hard.`,
    `From that day on, ${h.ref} always told the truth.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: exploring and finding something wonderful

function explore(t: Tale): string[] {
  const h = t.hero;
  const animal = !!h.animal;
  const p = pickPlace(t, (x) => ['forest', 'woods', 'meadow', 'garden', 'park', 'beach', 'farm', 'hills', 'field', 'jungle'].includes(x.key));
  const home = animal ? t.kin('mom') : t.parent();
  const S = opening(t, { adj: animal ? undefined : 'curious', likes: 0.3 });
  S.push(t.opt(animal ? 0.6 : 0.3, () => (animal ? `${h.He} was very curious, and ${h.he} loved to find new things.` : `${h.He} loved to find new things.`)));
  const sandy = p.key === 'beach';
  const lead = sandy
    ? t.pick(['a line of tiny footprints in the sand', 'a little path between the rocks'])
    : p.key === 'garden' || p.key === 'farm'
      ? t.pick(['a small gate covered in green leaves', 'a little path behind the old shed'])
      : t.pick(['a little path that went between the trees', 'a line of tiny footprints in the mud', 'a trail of pretty white stones']);
  const footprints = lead.includes('footprints');
  S.push(`${t.oneDay('warm')} ${h.ref} was playing ${p.at} when ${h.he} saw ${lead}.`);
  S.push(t.sayP(h, footprints ? 'I wonder who made these?' : 'I wonder where this goes?', 'whispered'));
  S.push(lead.includes('gate')
    ? `${h.He} opened the gate and followed the little path behind it, step by step.`
    : `${h.He} followed ${footprints ? 'them' : 'it'}, step by step.`);
  S.push(t.opt(0.6, () => `${h.He} walked past ${t.d.some(p.sights, 2).join(' and ')}.`));
  const finds = sandy
    ? ['a little pool in the rocks, full of tiny crabs and starfish', 'a big turtle sleeping in the warm sand']
    : footprints
      ? ['a mother deer with a baby deer, eating grass in the sun', 'a family of bunnies nibbling clover', 'a big friendly hedgehog and three little ones']
      : ['a hidden pond with frogs sitting on lily pads', `a field of sunflowers that were taller than ${h.ref}`, "a bird's nest with three tiny blue eggs", 'an old tree house with a rope ladder', 'a little waterfall that sparkled in the sun'];
  const find = t.pick(finds);
  S.push(`At the end, ${h.he} found ${find}!`);
  S.push(t.say(h, t.pick(['Wow!', 'Oh, how beautiful!', 'What a wonderful place!'])));
  if (find.includes('eggs') || find.includes('deer') || find.includes('sleeping') || find.includes('bunnies') || find.includes('hedgehog')) {
    S.push(`${h.He} did not touch anything. ${h.He} just sat very still and watched quietly.`);
  } else {
    S.push(`${h.He} sat down and looked at it for a long, long time.`);
  }
  S.push(`Then ${h.he} remembered that ${home.ref} would be waiting. ${h.He} followed the ${footprints ? 'footprints' : lead.includes('stones') ? 'stones' : lead.includes('gate') ? 'path' : 'path'} back home.`);
  S.push(`${h.He} told ${home.ref} all about it.`);
  S.push(t.say(home, t.pick(["That sounds wonderful! Next time, let's go together.", 'How lovely! Will you show me tomorrow?'])));
  S.push(t.one(
    () => `The next day, ${h.ref} took ${home.ref} to see it, and ${home.ref} loved it too.`,
    () => `From then on, it was ${poss(h.ref)} special secret place.`,
  ));
  S.push(t.opt(0.6, () => `${h.Ref} learned that the world is full of wonderful surprises, if you look closely.`));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: planting a seed and being patient

const PLANTS = [
  { seeds: 'sunflower seeds', become: 'tall yellow sunflowers', grown: 'By the end of the summer, the sunflowers were even taller than {name}, with big yellow faces that looked at the sun.', share: 'In the fall, {he} saved the seeds and fed some to the birds.' },
  { seeds: 'tomato seeds', become: 'red, juicy tomatoes', grown: 'Soon, little green tomatoes appeared, and then they turned bright red.', share: '{He} picked the tomatoes and made a big salad for the whole family.' },
  { seeds: 'pumpkin seeds', become: 'big orange pumpkins', grown: 'Long green vines grew all over the garden, and one day there was a big orange pumpkin.', share: 'They used the pumpkin to make a yummy pumpkin pie.' },
  { seeds: 'bean seeds', become: 'long green beans', grown: 'The bean plant climbed up a stick, higher and higher, and soon it was full of long green beans.', share: '{He} picked the beans and shared them with the neighbors.' },
  { seeds: 'carrot seeds', become: 'crunchy orange carrots', grown: 'Green leaves grew tall, and under the dirt, the carrots grew long and orange.', share: '{He} pulled up the carrots, washed them, and crunched on one right away.' },
  { seeds: 'flower seeds', become: 'flowers of every color', grown: 'Soon the garden was full of flowers, red, pink, yellow, and blue.', share: '{He} picked a bunch of the flowers and gave them to {his} mom.' },
  { seeds: 'strawberry seeds', become: 'sweet red strawberries', grown: 'White flowers bloomed, and then little green berries grew and turned sweet and red.', share: '{He} shared the strawberries with {his} friends.' },
] as const;

function planting(t: Tale): string[] {
  const h = t.hero;
  const g = t.kin(t.pick(['grandma', 'grandpa'] as const));
  const plant = t.pick(PLANTS);
  const S = opening(t);
  S.push(`${t.oneDay()} ${g.ref} gave ${h.ref} a little bag of ${plant.seeds}.`);
  S.push(t.say(g, `If you take good care of them, they will grow into ${plant.become}.`));
  S.push(`${h.Ref} dug small holes in a sunny spot ${t.pick(['in the yard', 'by the fence', 'near the house', 'in the garden'])}, put in the seeds, and covered them with dirt.`);
  S.push(`Then ${h.he} gave them water with ${h.his} little watering can.`);
  S.push(`The next morning, ${h.ref} ran outside to look. But nothing had grown!`);
  S.push(t.say(h, t.pick(['When will they grow?', 'Why is it taking so long?']), 'asked'));
  S.push(t.say(g, t.pick(['Plants need sun, water, and time. You have to be patient.', 'Good things take time. Keep taking care of them, and you will see.'])));
  S.push(`So every day, ${h.ref} watered the dirt and waited.`);
  S.push(t.opt(0.5, () => `Some days it rained, and ${h.ref} watched from the window, happy that the seeds were getting a drink.`));
  S.push(`Then one morning, ${h.he} saw a tiny green sprout poking out of the dirt!`);
  S.push(t.sayP(h, t.pick(['It is growing! It is really growing!', 'Look! Look! A little plant!']), 'shouted'));
  S.push(t.pick(['Day by day, the plant grew bigger and bigger.', 'Every day, it grew a little more.']));
  S.push(fill(plant.grown.replace('{name}', h.ref), h));
  S.push(fill(plant.share, h));
  S.push(t.opt(0.5, () => `${g.Ref} smiled. ${t.sayP(g, 'You were very patient, and look what you grew!')}`));
  S.push(t.opt(0.7, () => t.pick([
    `${h.Ref} learned that good things come to those who wait.`,
    `${h.Ref} learned that with care and patience, little things can grow big.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Schema: helping a neighbor

function helping(t: Tale): string[] {
  const h = t.hero;
  const female = t.chance(0.5);
  const nName = `${female ? 'Mrs' : 'Mr'} ${t.pick(SURNAMES)}`;
  const n = t.grownup('neighbor', female, nName);
  const par = t.parent();
  const S = opening(t);
  S.push(`Next door lived an old ${female ? 'woman' : 'man'} named ${nName}. ${n.He} walked slowly and used a cane.`);
  const task = t.pick(['bags', 'leaves', 'garden', 'snow']);
  switch (task) {
    case 'bags':
      S.push(`${t.oneDay()} ${h.ref} saw ${n.ref} coming home with two heavy bags from the market.`);
      S.push(`${h.Ref} ran over. ${t.sayP(h, 'Can I help you carry those?', 'asked')}`);
      S.push(`${n.Ref} smiled. ${t.sayP(n, 'Thank you, dear. That is very kind.')}`);
      S.push(`${h.Ref} carried the small bag, and ${par.ref} carried the big one, all the way to ${poss(n.ref)} kitchen.`);
      break;
    case 'leaves':
      S.push(`In the fall, ${poss(n.ref)} yard was full of leaves. ${n.He} had a sore back and could not rake them.`);
      S.push(`${t.oneDay()} ${h.ref} and ${par.ref} got two rakes and went next door.`);
      S.push('They raked and raked until they had a big pile of red and yellow leaves.');
      S.push(`Then ${h.ref} jumped right into the middle of the pile! Leaves flew everywhere, and ${n.ref} laughed and laughed.`);
      break;
    case 'garden':
      S.push(`${n.Ref} had hurt ${n.his} leg, and ${n.he} could not water ${n.his} garden. The flowers were starting to droop.`);
      S.push(`${h.Ref} wanted to help. Every day after lunch, ${h.he} filled ${h.his} little watering can and watered the flowers, one by one.`);
      S.push('Soon the flowers stood up tall and bright again.');
      break;
    default:
      S.push(`${oneNight(t)} there was a big snowstorm. In the morning, ${poss(n.ref)} path was covered in deep snow.`);
      S.push(`${h.Ref} and ${par.ref} put on warm coats and took their shovels next door.`);
      S.push('They shoveled and shoveled until the path was clear.');
  }
  S.push(t.say(n, `Thank you, ${h.name}. You are a very kind helper.`));
  S.push(`${n.Ref} gave ${h.ref} ${t.pick(['a warm cookie', 'a cup of lemonade', 'a big red apple', 'a jar of honey', 'a little bag of candy'])} and told ${h.him} a funny story about when ${n.he} was little.`);
  S.push(t.opt(0.6, () => `${h.Ref} felt warm and happy inside.`));
  S.push(t.one(
    () => `From then on, ${h.ref} and ${n.ref} were good friends, and ${h.ref} visited ${n.him} every week.`,
    () => `After that, ${h.ref} always looked for ways to help ${n.ref}.`,
  ));
  S.push(t.opt(0.7, () => t.pick([
    `${h.Ref} learned that no one is too small to help.`,
    `${h.Ref} learned that helping others makes everyone happy.`,
  ])));
  return S;
}

// ---------------------------------------------------------------------------------------------
// Telling a whole story

interface Schema {
  readonly name: string;
  readonly tell: (t: Tale) => string[];
  readonly weight: number;
  /** Whether an animal can be the hero (and which ones). */
  readonly animal: (sp: Species) => boolean;
}

const no = () => false;
const yes = () => true;

export const SCHEMAS: readonly Schema[] = [
  { name: 'lost-and-found', tell: lostFound, weight: 12, animal: yes },
  { name: 'new-friend', tell: newFriend, weight: 9, animal: yes },
  { name: 'sharing', tell: sharing, weight: 8, animal: yes },
  { name: 'fear', tell: fear, weight: 11, animal: yes },
  { name: 'rainy-day', tell: rainyDay, weight: 6, animal: no },
  { name: 'hurt-animal', tell: hurtAnimal, weight: 8, animal: no },
  { name: 'learning', tell: learning, weight: 8, animal: (sp) => !!sp.skill },
  { name: 'trip', tell: trip, weight: 7, animal: no },
  { name: 'making-together', tell: makeTogether, weight: 7, animal: no },
  { name: 'surprise', tell: surprise, weight: 6, animal: yes },
  { name: 'disagreement', tell: disagreement, weight: 7, animal: yes },
  { name: 'honesty', tell: honesty, weight: 6, animal: no },
  { name: 'exploring', tell: explore, weight: 6, animal: yes },
  { name: 'planting', tell: planting, weight: 5, animal: no },
  { name: 'helping-neighbor', tell: helping, weight: 5, animal: no },
];

export interface Story {
  readonly text: string;
  readonly schema: string;
  /** Every character the story may mention, with the gender its pronouns follow. */
  readonly cast: readonly CastMember[];
}

export const MIN_WORDS = 90;
export const MAX_WORDS = 260;

/** One story with what it was built from (for tests and statistics). */
export function tellStory(rng: Rng): Story {
  // The rare story outside the length bounds is told again (from the same stream, so still
  // deterministic).
  for (;;) {
    const story = tellOnce(rng);
    const words = story.text.split(' ').length;
    if (words >= MIN_WORDS && words <= MAX_WORDS) return story;
  }
}

function tellOnce(rng: Rng): Story {
  const d = new Dice(rng);
  const t = new Tale(d);
  const animalHero = d.chance(0.22);
  if (animalHero) {
    const sp = d.pick(SPECIES);
    t.hero = t.beast(sp);
  } else {
    t.hero = t.kid();
  }
  const sp = t.hero.animal;
  const schemas = SCHEMAS.filter((s) => !sp || s.animal(sp));
  const schema = d.weighted(schemas.map((s) => [s, s.weight] as const));
  const sentences = schema.tell(t).filter((s) => s.length > 0);
  const text = sentences.join(' ').replace(/\s+/g, ' ').trim();
  return { text, schema: schema.name, cast: t.cast.map((c) => ({ name: c.name, female: c.female, kind: c.kind })) };
}

/** One story: a single paragraph, no newlines. */
export function generateStory(rng: Rng): string {
  return tellStory(rng).text;
}

/** `count` stories, the same for the same seed. */
export function* generateCorpus(seed: number, count: number): Generator<string> {
  const rng = new Rng(seed);
  for (let i = 0; i < count; i++) yield generateStory(rng);
}
