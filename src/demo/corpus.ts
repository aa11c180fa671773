/**
 * The text the demo model learns from: short, simple stories written for this project.
 * A word-bigram model of it speaks in locally plausible, globally aimless sentences.
 */
export const DEMO_CORPUS = `
Once upon a time, there was a little fox who lived at the edge of a quiet forest. Every morning the fox
walked to the river to drink, and every morning the river sang a soft song. One day, the fox saw a small
bird sitting on a rock. The bird was sad because it had lost its way home. The fox said, "Do not be sad,
little bird. I will help you find your home." So the fox and the bird walked along the river together.
They met a kind old turtle who knew every tree in the forest. The turtle said, "Your home is the tall tree
near the hill." The bird was happy and sang a bright song. The fox smiled and walked back to the river.

Once upon a time, there was a girl named Mia who loved to paint. She painted the sky, the sea and the
garden behind her house. One day, Mia found a box of new colors under her bed. She painted a big red
sun and a little blue boat. Her mother saw the painting and smiled. "It is beautiful," her mother said.
Mia was proud, and she hung the painting on the wall. Every night, she looked at the boat and dreamed
of the sea. In the morning, she painted a new picture of the garden and the old tree.

Once upon a time, there was a small robot named Bolt. Bolt lived in a busy town with many people. Every
day, Bolt helped the people carry heavy boxes. One day, Bolt saw a boy who could not find his dog. The
boy was very sad. Bolt said, "I will help you find your dog." Bolt looked in the park, near the river and
behind the old shop. At last, Bolt found the dog sleeping under a tree. The boy hugged the dog and thanked
Bolt. Bolt was happy because helping people made the town a better place.

Once upon a time, there was a tiny seed in a big garden. The seed was afraid of the dark ground. The rain
said, "Do not be afraid, little seed. You will grow." The sun said, "I will keep you warm." So the seed
waited, and the rain and the sun helped it every day. One morning, the seed grew into a green plant. Then
the plant grew a bright yellow flower. The bees came to the flower and the children came to see it. The
flower was happy, and it was not afraid any more.

Once upon a time, there was a boy named Leo who wanted to see the stars. Every night, he looked at the sky
from his window. One night, his father gave him a small telescope. Leo looked through the telescope and saw
the moon and many bright stars. He was so happy that he could not sleep. He told his sister about the moon,
and she wanted to see it too. They looked at the sky together until the sun came up. In the morning, Leo
drew a picture of the moon and gave it to his father.
`;
